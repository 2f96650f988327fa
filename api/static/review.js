/* Reviewer page of the Astana message-triage service.
 *
 * Plain JavaScript, no dependencies, no build step. Every string that comes from the server
 * (message text, labels, reasons, error messages...) is put into the page with textContent or
 * as an attribute value, never parsed as HTML; the page's CSP forbids inline scripts as well.
 */
(() => {
  'use strict';

  // ---------------------------------------------------------------------------------------
  // Interface strings
  // ---------------------------------------------------------------------------------------

  const I18N = {
    en: {
      skipToContent: 'Skip to content',
      appTitle: 'Message review',
      appSubtitle: "Astana city akimat · citizens' messages",
      interfaceLanguage: 'Interface language',
      shortcutsTitle: 'Keyboard shortcuts',
      signOut: 'Sign out',
      signInTitle: 'Reviewer sign-in',
      signInIntro: 'Enter the reviewer API key issued by the administrator. It is kept only in this browser tab.',
      apiKey: 'API key',
      signIn: 'Sign in',
      signingIn: 'Signing in…',
      queueTitle: 'Review queue',
      refresh: 'Refresh the queue',
      filterBy: 'Filter',
      filterAll: 'All',
      head_topic: 'Topic',
      head_authority: 'Authority',
      head_urgency: 'Urgency',
      head_district: 'District',
      loadMore: 'Load more',
      nothingSelected: 'Select a message on the left.',
      predictionTitle: 'Model prediction',
      reasonsTitle: 'Why it needs review',
      recipientTitle: 'Routed to',
      explanationTitle: 'What the model relied on',
      explanationHint: 'Text features that weighed most for each prediction, strongest first.',
      correctionTitle: 'Labels',
      correctionHint: 'Correct what is wrong and submit, or confirm that the prediction is right.',
      commentLabel: 'Comment (optional)',
      commentPlaceholder: 'A note for colleagues or the model team',
      confirm: 'Confirm as correct',
      submit: 'Submit correction',
      submitN: 'Submit correction ({n})',
      saving: 'Saving…',
      close: 'Close',
      kbNext: 'Next message',
      kbPrev: 'Previous message',
      kbSubmit: 'Submit the correction',
      kbConfirm: 'Confirm that the prediction is correct',
      kbFocus: 'Go to the topic / authority / urgency / district list',
      kbEscape: 'Leave a list or the comment box; close this window',
      kbHelp: 'Show or hide this help',
      kbNote: 'Letter shortcuts are off while you type a comment or while a list has focus (there ↑/↓ change the value). Ctrl+Enter submits from the comment box.',
      errEmptyKey: 'Enter your API key.',
      errWrongKey: 'This key was not accepted. Check it and try again.',
      errNotReviewer: 'This key has the “{role}” role and cannot review messages.',
      errNetwork: 'The service cannot be reached. Check the connection and try again.',
      errSession: 'The session has ended or the key was revoked. Please sign in again.',
      errServer: 'The server reported an error: {message}',
      loading: 'Loading…',
      loadedCount: 'Loaded: {n}',
      orderPriority: 'Most in need of review first',
      orderHead: 'Lowest “{head}” confidence first',
      queueEmpty: 'The queue is empty — nothing to review.',
      queueLoadFailed: 'The queue could not be loaded. Press Refresh to try again.',
      errUnavailable: 'The service is temporarily unavailable (database). Nothing was saved; try again in a moment.',
      errConflict: 'This message changed meanwhile. Refresh the queue and try again.',
      belowThreshold: 'below the confidence threshold',
      role_intake: 'intake',
      role_reviewer: 'reviewer',
      role_admin: 'administrator',
      messageN: 'Message #{id}',
      reason_uncertain: 'Uncertain',
      reason_quality_check: 'Quality check',
      priority: 'priority {p}',
      alternatives: 'Alternatives',
      belowThreshold: 'Below threshold',
      confident: 'Confident',
      threshold: 'threshold {p}',
      notSpecified: 'Not specified',
      noneOption: '— not specified —',
      qualityCheckNote: 'Randomly sampled to check the quality of confident predictions.',
      noReasons: 'No reasons recorded.',
      noRecipient: 'No recipient was found in the routing table.',
      channel: 'Channel',
      language: 'Language',
      received: 'Received',
      posted: 'Written',
      author: 'Author',
      lang_kk: 'Kazakh',
      lang_ru: 'Russian',
      lang_en: 'English',
      lang_unknown: 'Unknown',
      r_topic_below_threshold: 'Topic confidence is below the threshold',
      r_authority_below_threshold: 'Authority confidence is below the threshold',
      r_urgency_below_threshold: 'Urgency confidence is below the threshold',
      r_authority_from_topic_default: "Routed to the topic's default authority",
      r_rule_override: 'A safety rule overrode the model',
      r_rule_vetoed: 'A safety rule matched, but the model is sure this is no emergency: please check',
      r_no_recipient: 'No recipient in the routing table',
      r_urgency_route: 'Urgency “{level}”: sent to the authority the routing table names for it',
      r_rule: 'Rule “{rule}” matched: “{text}”',
      noExplanation: 'No features recorded.',
      wasValue: 'was: {label}',
      nothingChanged: 'Nothing has changed. Press C to confirm that the prediction is correct.',
      changedUseSubmit: 'You have changed labels: submit them with Enter, or set them back to confirm.',
      savedCorrection: 'Correction for message #{id} saved.',
      savedConfirm: 'Message #{id} confirmed as correct.',
      msgGone: 'Message #{id} no longer exists; it was removed from the list.',
      redacted: 'Personal data hidden: {n}',
      queueDone: 'All loaded messages are reviewed.',
    },
    ru: {
      skipToContent: 'Перейти к содержимому',
      appTitle: 'Проверка обращений',
      appSubtitle: 'Акимат города Астаны · обращения граждан',
      interfaceLanguage: 'Язык интерфейса',
      shortcutsTitle: 'Горячие клавиши',
      signOut: 'Выйти',
      signInTitle: 'Вход для проверяющего',
      signInIntro: 'Введите API-ключ проверяющего, выданный администратором. Ключ хранится только в этой вкладке браузера.',
      apiKey: 'API-ключ',
      signIn: 'Войти',
      signingIn: 'Выполняется вход…',
      queueTitle: 'Очередь проверки',
      refresh: 'Обновить очередь',
      filterBy: 'Фильтр',
      filterAll: 'Все',
      head_topic: 'Тема',
      head_authority: 'Ведомство',
      head_urgency: 'Срочность',
      head_district: 'Район',
      loadMore: 'Загрузить ещё',
      nothingSelected: 'Выберите обращение в списке слева.',
      predictionTitle: 'Прогноз модели',
      reasonsTitle: 'Почему нужна проверка',
      recipientTitle: 'Направлено',
      explanationTitle: 'На что опиралась модель',
      explanationHint: 'Признаки текста, сильнее всего повлиявшие на каждый прогноз, по убыванию.',
      correctionTitle: 'Классификация',
      correctionHint: 'Исправьте неверное и отправьте или подтвердите, что прогноз верен.',
      commentLabel: 'Комментарий (необязательно)',
      commentPlaceholder: 'Заметка для коллег или команды модели',
      confirm: 'Подтвердить прогноз',
      submit: 'Отправить исправление',
      submitN: 'Отправить исправление ({n})',
      saving: 'Сохранение…',
      close: 'Закрыть',
      kbNext: 'Следующее обращение',
      kbPrev: 'Предыдущее обращение',
      kbSubmit: 'Отправить исправление',
      kbConfirm: 'Подтвердить, что прогноз верен',
      kbFocus: 'Перейти к списку: тема / ведомство / срочность / район',
      kbEscape: 'Выйти из списка или поля комментария; закрыть это окно',
      kbHelp: 'Показать или скрыть эту справку',
      kbNote: 'Буквенные клавиши не действуют, пока вы пишете комментарий или в фокусе список (в нём ↑/↓ меняют значение). Ctrl+Enter отправляет исправление из поля комментария.',
      errEmptyKey: 'Введите API-ключ.',
      errWrongKey: 'Ключ не принят. Проверьте его и попробуйте снова.',
      errNotReviewer: 'У этого ключа роль «{role}»: с ним нельзя проверять обращения.',
      errNetwork: 'Сервис недоступен. Проверьте подключение и попробуйте снова.',
      errSession: 'Сеанс завершён или ключ отозван. Войдите снова.',
      errServer: 'Сервер сообщил об ошибке: {message}',
      loading: 'Загрузка…',
      loadedCount: 'Загружено: {n}',
      orderPriority: 'Сначала наиболее нуждающиеся в проверке',
      orderHead: 'Сначала с наименьшей уверенностью по полю «{head}»',
      queueEmpty: 'Очередь пуста — проверять нечего.',
      queueLoadFailed: 'Не удалось загрузить очередь. Нажмите «Обновить», чтобы попробовать снова.',
      errUnavailable: 'Сервис временно недоступен (база данных). Ничего не сохранено; попробуйте чуть позже.',
      errConflict: 'Обращение изменилось. Обновите очередь и попробуйте снова.',
      belowThreshold: 'ниже порога уверенности',
      role_intake: 'приём обращений',
      role_reviewer: 'проверяющий',
      role_admin: 'администратор',
      messageN: 'Обращение №\u00a0{id}',
      reason_uncertain: 'Неуверенный прогноз',
      reason_quality_check: 'Выборочная проверка',
      priority: 'приоритет {p}',
      alternatives: 'Другие варианты',
      belowThreshold: 'Ниже порога',
      confident: 'Уверенно',
      threshold: 'порог {p}',
      notSpecified: 'Не указан',
      noneOption: '— не указан —',
      qualityCheckNote: 'Выбрано случайно для контроля качества уверенных прогнозов.',
      noReasons: 'Причины не указаны.',
      noRecipient: 'Получатель не найден в таблице маршрутизации.',
      channel: 'Канал',
      language: 'Язык',
      received: 'Получено',
      posted: 'Написано',
      author: 'Автор',
      lang_kk: 'Казахский',
      lang_ru: 'Русский',
      lang_en: 'Английский',
      lang_unknown: 'Не определён',
      r_topic_below_threshold: 'Уверенность в теме ниже порога',
      r_authority_below_threshold: 'Уверенность в ведомстве ниже порога',
      r_urgency_below_threshold: 'Уверенность в срочности ниже порога',
      r_authority_from_topic_default: 'Направлено в ведомство, закреплённое за темой',
      r_rule_override: 'Правило безопасности изменило прогноз модели',
      r_rule_vetoed: 'Сработало правило безопасности, но модель уверена, что это не экстренный случай: проверьте',
      r_no_recipient: 'В таблице маршрутизации нет получателя',
      r_urgency_route: 'Срочность «{level}»: направлено в ведомство, указанное для неё в таблице маршрутизации',
      r_rule: 'Сработало правило «{rule}»: «{text}»',
      noExplanation: 'Признаки не сохранены.',
      wasValue: 'было: {label}',
      nothingChanged: 'Ничего не изменено. Нажмите C, чтобы подтвердить, что прогноз верен.',
      changedUseSubmit: 'Вы изменили разметку: отправьте её клавишей Enter или верните прежние значения, чтобы подтвердить.',
      savedCorrection: 'Исправление по обращению №\u00a0{id} сохранено.',
      savedConfirm: 'Обращение №\u00a0{id} подтверждено.',
      msgGone: 'Обращения №\u00a0{id} больше нет; оно убрано из списка.',
      redacted: 'Скрыто персональных данных: {n}',
      queueDone: 'Все загруженные обращения проверены.',
    },
    kk: {
      skipToContent: 'Мазмұнға өту',
      appTitle: 'Өтініштерді тексеру',
      appSubtitle: 'Астана қаласының әкімдігі · азаматтардың өтініштері',
      interfaceLanguage: 'Интерфейс тілі',
      shortcutsTitle: 'Жылдам пернелер',
      signOut: 'Шығу',
      signInTitle: 'Тексеруші ретінде кіру',
      signInIntro: 'Әкімші берген тексерушінің API кілтін енгізіңіз. Кілт тек осы браузер қойындысында сақталады.',
      apiKey: 'API кілті',
      signIn: 'Кіру',
      signingIn: 'Кіру орындалуда…',
      queueTitle: 'Тексеру кезегі',
      refresh: 'Кезекті жаңарту',
      filterBy: 'Сүзгі',
      filterAll: 'Барлығы',
      head_topic: 'Тақырып',
      head_authority: 'Жауапты орган',
      head_urgency: 'Шұғылдық',
      head_district: 'Аудан',
      loadMore: 'Тағы жүктеу',
      nothingSelected: 'Сол жақтағы тізімнен өтінішті таңдаңыз.',
      predictionTitle: 'Модель болжамы',
      reasonsTitle: 'Неге тексеру қажет',
      recipientTitle: 'Кімге жіберілді',
      explanationTitle: 'Модель неге сүйенді',
      explanationHint: 'Әр болжамға ең көп әсер еткен мәтін белгілері, кему ретімен.',
      correctionTitle: 'Жіктеу',
      correctionHint: 'Қатесін түзетіп, жіберіңіз немесе болжамның дұрыс екенін растаңыз.',
      commentLabel: 'Түсініктеме (міндетті емес)',
      commentPlaceholder: 'Әріптестерге немесе модель тобына арналған ескертпе',
      confirm: 'Дұрыс деп растау',
      submit: 'Түзетуді жіберу',
      submitN: 'Түзетуді жіберу ({n})',
      saving: 'Сақталуда…',
      close: 'Жабу',
      kbNext: 'Келесі өтініш',
      kbPrev: 'Алдыңғы өтініш',
      kbSubmit: 'Түзетуді жіберу',
      kbConfirm: 'Болжамның дұрыс екенін растау',
      kbFocus: 'Тізімге өту: тақырып / жауапты орган / шұғылдық / аудан',
      kbEscape: 'Тізімнен немесе түсініктеме өрісінен шығу; осы терезені жабу',
      kbHelp: 'Осы анықтаманы көрсету немесе жасыру',
      kbNote: 'Түсініктеме жазып отырғанда немесе тізім таңдалып тұрғанда әріп пернелері істемейді (тізімде ↑/↓ мәнді өзгертеді). Түсініктеме өрісінен Ctrl+Enter арқылы жіберуге болады.',
      errEmptyKey: 'API кілтін енгізіңіз.',
      errWrongKey: 'Кілт қабылданбады. Оны тексеріп, қайталап көріңіз.',
      errNotReviewer: 'Бұл кілттің рөлі — «{role}»: онымен өтініштерді тексеруге болмайды.',
      errNetwork: 'Қызметке қосылу мүмкін емес. Байланысты тексеріп, қайталап көріңіз.',
      errSession: 'Сеанс аяқталды немесе кілттің күші жойылды. Қайта кіріңіз.',
      errServer: 'Сервер қате туралы хабарлады: {message}',
      loading: 'Жүктелуде…',
      loadedCount: 'Жүктелді: {n}',
      orderPriority: 'Алдымен тексеруді ең қажет ететіндері',
      orderHead: 'Алдымен «{head}» бойынша сенімділігі ең төмендері',
      queueEmpty: 'Кезек бос — тексеретін ештеңе жоқ.',
      queueLoadFailed: 'Кезекті жүктеу мүмкін болмады. Қайталау үшін «Жаңарту» батырмасын басыңыз.',
      errUnavailable: 'Қызмет уақытша қолжетімсіз (дерекқор). Ештеңе сақталмады; сәлден соң қайталаңыз.',
      errConflict: 'Өтініш өзгерді. Кезекті жаңартып, қайталап көріңіз.',
      belowThreshold: 'сенімділік шегінен төмен',
      role_intake: 'өтініш қабылдау',
      role_reviewer: 'тексеруші',
      role_admin: 'әкімші',
      messageN: '№\u00a0{id} өтініш',
      reason_uncertain: 'Сенімсіз болжам',
      reason_quality_check: 'Іріктемелі тексеру',
      priority: 'басымдық {p}',
      alternatives: 'Басқа нұсқалар',
      belowThreshold: 'Шектен төмен',
      confident: 'Сенімді',
      threshold: 'шек {p}',
      notSpecified: 'Көрсетілмеген',
      noneOption: '— көрсетілмеген —',
      qualityCheckNote: 'Сенімді болжамдардың сапасын бақылау үшін кездейсоқ таңдалды.',
      noReasons: 'Себептер көрсетілмеген.',
      noRecipient: 'Бағыттау кестесінде алушы табылмады.',
      channel: 'Арна',
      language: 'Тіл',
      received: 'Түскен уақыты',
      posted: 'Жазылған уақыты',
      author: 'Автор',
      lang_kk: 'Қазақ тілі',
      lang_ru: 'Орыс тілі',
      lang_en: 'Ағылшын тілі',
      lang_unknown: 'Анықталмаған',
      r_topic_below_threshold: 'Тақырып бойынша сенімділік шектен төмен',
      r_authority_below_threshold: 'Жауапты орган бойынша сенімділік шектен төмен',
      r_urgency_below_threshold: 'Шұғылдық бойынша сенімділік шектен төмен',
      r_authority_from_topic_default: 'Тақырыпқа бекітілген жауапты органға жіберілді',
      r_rule_override: 'Қауіпсіздік ережесі модель болжамын өзгертті',
      r_rule_vetoed: 'Қауіпсіздік ережесі іске қосылды, бірақ модель мұны төтенше жағдай емес деп санайды: тексеріңіз',
      r_no_recipient: 'Бағыттау кестесінде алушы жоқ',
      r_urgency_route: '«{level}» шұғылдығы: бағыттау кестесі оған белгілеген органға жіберілді',
      r_rule: '«{rule}» ережесі іске қосылды: «{text}»',
      noExplanation: 'Белгілер сақталмаған.',
      wasValue: 'бұрынғы мәні: {label}',
      nothingChanged: 'Ештеңе өзгертілмеді. Болжамның дұрыс екенін растау үшін C пернесін басыңыз.',
      changedUseSubmit: 'Белгілерді өзгерттіңіз: оларды Enter арқылы жіберіңіз немесе растау үшін бұрынғы мәндерді қайтарыңыз.',
      savedCorrection: '№\u00a0{id} өтініш бойынша түзету сақталды.',
      savedConfirm: '№\u00a0{id} өтініш дұрыс деп расталды.',
      msgGone: '№\u00a0{id} өтініш енді жоқ, ол тізімнен алынды.',
      redacted: 'Жасырылған жеке деректер: {n}',
      queueDone: 'Жүктелген өтініштердің бәрі тексерілді.',
    },
  };

  const LANGS = ['kk', 'ru', 'en'];
  const HEADS = ['topic', 'authority', 'urgency'];
  const FIELDS = ['topic', 'authority', 'urgency', 'district'];
  const REVIEW_ROLES = ['reviewer', 'admin'];
  const PAGE_SIZE = 20;
  const KEY_STORAGE = 'triage.review.key';
  const LANG_STORAGE = 'triage.review.lang';

  const state = {
    lang: 'en',
    key: null,
    user: null,
    taxonomy: null,        // {head: [{label, names}]}
    names: null,           // {head: Map(label -> names)}
    thresholds: {},
    thresholdsByLanguage: {},
    head: '',              // queue filter: '' | topic | authority | urgency
    items: [],
    nextCursor: null,
    selectedId: null,
    loading: false,
    busy: false,
    requestSeq: 0,
  };

  // ---------------------------------------------------------------------------------------
  // Helpers
  // ---------------------------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);

  function t(key, vars) {
    const table = I18N[state.lang] || I18N.en;
    let s = table[key] ?? I18N.en[key] ?? key;
    if (vars) {
      s = s.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
    }
    return s;
  }

  /** el('div', {class: 'x', text: 'safe text', attrs: {...}, testid: '...'}, child, ...) */
  function el(tag, opts = {}, ...children) {
    const node = document.createElement(tag);
    if (opts.class) node.className = opts.class;
    if (opts.text !== undefined && opts.text !== null) node.textContent = String(opts.text);
    if (opts.testid) node.dataset.testid = opts.testid;
    if (opts.title) node.title = String(opts.title);
    if (opts.lang) node.lang = opts.lang;
    for (const [k, v] of Object.entries(opts.attrs || {})) {
      if (v !== undefined && v !== null && v !== false) node.setAttribute(k, String(v));
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function clear(node) {
    node.replaceChildren();
    return node;
  }

  function pct(p) {
    const v = Number(p);
    if (!Number.isFinite(v)) return '—';
    return `${Math.round(v * 100)}%`;
  }

  function clamp01(p) {
    const v = Number(p);
    return Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0;
  }

  // Dates are formatted here rather than with Intl: browsers' ICU data for Kazakh is often
  // incomplete (month names come out as "М11").
  const MONTHS = {
    en: ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'],
    ru: ['января', 'февраля', 'марта', 'апреля', 'мая', 'июня', 'июля', 'августа', 'сентября', 'октября',
      'ноября', 'декабря'],
    kk: ['қаңтар', 'ақпан', 'наурыз', 'сәуір', 'мамыр', 'маусым', 'шілде', 'тамыз', 'қыркүйек', 'қазан',
      'қараша', 'желтоқсан'],
  };
  const MONTHS_SHORT = {
    en: MONTHS.en,
    ru: ['янв.', 'февр.', 'мар.', 'апр.', 'мая', 'июн.', 'июл.', 'авг.', 'сент.', 'окт.', 'нояб.', 'дек.'],
    kk: ['қаң.', 'ақп.', 'нау.', 'сәу.', 'мам.', 'мау.', 'шіл.', 'там.', 'қыр.', 'қаз.', 'қар.', 'жел.'],
  };

  function formatTime(iso, compact) {
    if (!iso) return '';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    const two = (n) => String(n).padStart(2, '0');
    const hm = `${two(d.getHours())}:${two(d.getMinutes())}`;
    if (compact) {
      if (d.toDateString() === new Date().toDateString()) return hm;
      return `${d.getDate()} ${MONTHS_SHORT[state.lang][d.getMonth()]} ${hm}`;
    }
    return `${d.getDate()} ${MONTHS[state.lang][d.getMonth()]} ${d.getFullYear()}, ${hm}`;
  }

  function labelName(head, label) {
    if (label === null || label === undefined || label === '') return t('notSpecified');
    const names = state.names && state.names[head] && state.names[head].get(label);
    if (!names) return String(label);
    return names[state.lang] || names.en || String(label);
  }

  function langName(code) {
    return LANGS.includes(code) ? t(`lang_${code}`) : t('lang_unknown');
  }

  function currentItem() {
    return state.items.find((m) => m.id === state.selectedId) || null;
  }

  // ---------------------------------------------------------------------------------------
  // API
  // ---------------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message || code || `HTTP ${status}`);
      this.status = status;
      this.code = code;
    }
  }

  async function api(path, { method = 'GET', body, key } = {}) {
    const headers = { Accept: 'application/json', 'X-API-Key': key || state.key || '' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(path, {
        method, headers, cache: 'no-store', credentials: 'omit', redirect: 'error',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, 'network', t('errNetwork'));
    }
    let data = null;
    try {
      data = await res.json();
    } catch {
      data = null;
    }
    if (!res.ok) {
      const err = data && typeof data === 'object' && data.error ? data.error : {};
      throw new ApiError(res.status, err.code || 'http_error',
        typeof err.message === 'string' ? err.message : `HTTP ${res.status}`);
    }
    return data;
  }

  /** The user-facing text of an error. 401 signs the reviewer out. */
  function handleError(err) {
    if (err instanceof ApiError && err.status === 401) {
      signOut(() => t('errSession'));
      return null;
    }
    return errorText(err);
  }

  function errorText(err) {
    if (err instanceof ApiError && err.status === 0) return t('errNetwork');
    if (err instanceof ApiError && err.status === 503) return t('errUnavailable');
    if (err instanceof ApiError && err.status === 409) return t('errConflict');
    return t('errServer', { message: err && err.message ? err.message : String(err) });
  }

  // An error shown on the page is kept as a function of the interface language, so that switching
  // language translates it too (applyStaticStrings runs them again).
  function showMessage(node, message) {
    node.i18nText = typeof message === 'function' ? message : () => message || '';
    node.textContent = node.i18nText();
  }

  // ---------------------------------------------------------------------------------------
  // Toasts
  // ---------------------------------------------------------------------------------------

  function toast(message, kind = 'success') {
    const box = $('toasts');
    const node = el('div', {
      class: `toast toast-${kind}`, text: message, testid: 'toast',
      attrs: { role: kind === 'error' ? 'alert' : 'status' },
    });
    box.append(node);
    while (box.children.length > 3) box.firstElementChild.remove();
    setTimeout(() => {
      node.classList.add('toast-hide');
      setTimeout(() => node.remove(), 300);
    }, kind === 'error' ? 7000 : 3500);
  }

  // ---------------------------------------------------------------------------------------
  // Language
  // ---------------------------------------------------------------------------------------

  function initialLang() {
    let saved = null;
    try { saved = localStorage.getItem(LANG_STORAGE); } catch { /* storage disabled */ }
    if (LANGS.includes(saved)) return saved;
    for (const l of navigator.languages || [navigator.language || 'en']) {
      const base = String(l).toLowerCase().split('-')[0];
      if (LANGS.includes(base)) return base;
    }
    return 'en';
  }

  // Numbers in the interface language's notation (a decimal comma in Kazakh and Russian).
  function num(x, digits) {
    const text = Number(x).toFixed(digits);
    return state.lang === 'en' ? text : text.replace('.', ',');
  }

  function applyStaticStrings() {
    document.documentElement.lang = state.lang;
    document.title = `${t('appTitle')} · ${t('appSubtitle').split(' · ')[0]}`;
    for (const node of document.querySelectorAll('[data-i18n]')) node.textContent = t(node.dataset.i18n);
    for (const node of document.querySelectorAll('[data-i18n-title]')) node.title = t(node.dataset.i18nTitle);
    for (const node of document.querySelectorAll('[data-i18n-aria-label]')) {
      node.setAttribute('aria-label', t(node.dataset.i18nAriaLabel));
    }
    for (const node of document.querySelectorAll('[data-i18n-placeholder]')) {
      node.placeholder = t(node.dataset.i18nPlaceholder);
    }
    for (const b of document.querySelectorAll('.lang-btn')) {
      b.setAttribute('aria-pressed', String(b.dataset.lang === state.lang));
    }
    for (const id of ['signin-error', 'correction-error']) {
      const node = $(id);
      if (node && node.i18nText) node.textContent = node.i18nText();
    }
  }

  function setLang(lang) {
    if (!LANGS.includes(lang)) return;
    state.lang = lang;
    try { localStorage.setItem(LANG_STORAGE, lang); } catch { /* storage disabled */ }
    applyStaticStrings();
    if (state.user) {
      renderQueueMeta();
      renderList();
      renderDetail({ preserve: true });
    }
  }

  // ---------------------------------------------------------------------------------------
  // Sign-in / sign-out
  // ---------------------------------------------------------------------------------------

  function showView(name) {
    $('signin-view').hidden = name !== 'signin';
    $('queue-view').hidden = name !== 'queue';
    $('user-box').hidden = name !== 'queue';
    $('help-button').hidden = name !== 'queue'; // the shortcuts only work in the queue
  }

  function showSignIn(message) {
    showView('signin');
    showMessage($('signin-error'), message);
    $('signin-key').setAttribute('aria-invalid', $('signin-error').textContent ? 'true' : 'false');
    $('signin-key').focus();
  }

  async function signIn(key, { silent = false } = {}) {
    const errBox = $('signin-error');
    const button = $('signin-submit');
    const input = $('signin-key');
    showMessage(errBox, '');
    input.setAttribute('aria-invalid', 'false');
    if (!key) {
      showMessage(errBox, () => t('errEmptyKey'));
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    button.disabled = true;
    button.textContent = t('signingIn');
    try {
      const who = await api('/v1/whoami', { key });
      if (!who || !REVIEW_ROLES.includes(who.role)) {
        const denied = new ApiError(403, 'forbidden');
        denied.role = who ? who.role : '?';
        throw denied;
      }
      state.key = key;
      state.user = who;
      try { sessionStorage.setItem(KEY_STORAGE, key); } catch { /* storage disabled */ }
      await loadTaxonomy();
      input.value = '';
      $('user-name').textContent = who.name;
      $('user-name').title = t(`role_${who.role}`);
      showView('queue');
      await loadQueue({ reset: true });
      focusSelectedItem();
    } catch (err) {
      state.key = null;
      state.user = null;
      const status = err instanceof ApiError ? err.status : null;
      const message = () => {
        if (status === 401) return silent ? t('errSession') : t('errWrongKey');
        if (status === 403) return err.role ? t('errNotReviewer', { role: t(`role_${err.role}`) }) : err.message;
        return errorText(err);
      };
      try { sessionStorage.removeItem(KEY_STORAGE); } catch { /* storage disabled */ }
      showSignIn(message);
      input.select();
    } finally {
      button.disabled = false;
      button.textContent = t('signIn');
    }
  }

  function signOut(message) {
    try { sessionStorage.removeItem(KEY_STORAGE); } catch { /* storage disabled */ }
    state.requestSeq += 1; // ignore answers still on their way
    Object.assign(state, {
      key: null, user: null, items: [], nextCursor: null, selectedId: null, busy: false, loading: false,
    });
    $('user-name').textContent = '';
    clear($('queue-list'));
    renderDetail();
    if ($('help').open) $('help').close();
    showSignIn(message);
  }

  async function loadTaxonomy() {
    const tax = await api('/v1/taxonomy');
    state.taxonomy = tax.heads || {};
    state.names = {};
    for (const f of FIELDS) {
      state.names[f] = new Map((state.taxonomy[f] || []).map((x) => [x.label, x.names || {}]));
    }
    try {
      const model = await api('/v1/model');
      state.thresholds = (model && model.thresholds) || {};
      state.thresholdsByLanguage = (model && model.thresholds_by_language) || {};
    } catch {
      state.thresholds = {}; // optional: only draws the threshold tick
      state.thresholdsByLanguage = {};
    }
  }

  // ---------------------------------------------------------------------------------------
  // Queue
  // ---------------------------------------------------------------------------------------

  async function loadQueue({ reset = false } = {}) {
    if (state.loading && !reset) return;
    const seq = ++state.requestSeq;
    const fromMore = document.activeElement === $('load-more'); // keyboard users keep their place
    state.loadFailed = false;
    const shown = reset ? null : state.selectedId; // its form may hold the reviewer's unsaved edits
    state.loading = true;
    if (reset) {
      state.items = [];
      state.nextCursor = null;
      state.selectedId = null;
      renderList();
      renderDetail();
    }
    renderQueueMeta();
    const params = new URLSearchParams({ limit: String(PAGE_SIZE) });
    if (state.head) params.set('head', state.head);
    if (!reset && state.nextCursor) params.set('cursor', state.nextCursor);
    try {
      const page = await api(`/v1/review/queue?${params}`);
      if (seq !== state.requestSeq) return;
      const known = new Set(state.items.map((m) => m.id));
      for (const m of page.items || []) if (!known.has(m.id)) state.items.push(m);
      state.nextCursor = page.next_cursor || null;
      if (state.selectedId === null && state.items.length) state.selectedId = state.items[0].id;
      renderList();
      renderDetail({ preserve: shown !== null && shown === state.selectedId });
      if (fromMore) {  // the selection (and any unsaved edit) stays; focus stays on the button, or the item
        state.loading = false;
        renderQueueMeta();
        if (!$('load-more').hidden) $('load-more').focus();
        else focusSelectedItem();
      }
    } catch (err) {
      if (seq !== state.requestSeq) return;
      state.loadFailed = true;
      const msg = handleError(err);
      if (msg) toast(msg, 'error');
    } finally {
      if (seq === state.requestSeq) {
        state.loading = false;
        renderQueueMeta();
      }
    }
  }

  function renderQueueMeta() {
    const n = state.items.length;
    $('queue-count').textContent = state.loading && !n ? t('loading') : t('loadedCount', { n: state.nextCursor ? `${n}+` : n });
    $('queue-order').textContent = state.head
      ? t('orderHead', { head: t(`head_${state.head}`) })
      : t('orderPriority');
    for (const b of document.querySelectorAll('.filter .chip-btn')) {
      b.setAttribute('aria-pressed', String(b.dataset.head === state.head));
    }
    const more = $('load-more');
    more.hidden = !state.nextCursor;
    more.disabled = state.loading;
    more.textContent = state.loading && n ? t('loading') : t('loadMore');
    const empty = $('queue-empty');
    empty.hidden = state.loading || n > 0;
    empty.textContent = state.loadFailed ? t('queueLoadFailed') : t('queueEmpty');
    empty.classList.toggle('queue-error', !!state.loadFailed);
    document.title = `${n ? `(${state.nextCursor ? `${n}+` : n}) ` : ''}${t('appTitle')}`;
  }

  function renderList() {
    const hadFocus = !!(document.activeElement && document.activeElement.classList.contains('queue-item'));
    const list = clear($('queue-list'));
    for (const m of state.items) list.append(renderListItem(m));
    renderQueueMeta();
    if (hadFocus) focusSelectedItem();
  }

  function renderListItem(m) {
    const pred = m.prediction || {};
    const topic = pred.topic || {};
    const reason = m.review_reason || 'uncertain';
    const selected = m.id === state.selectedId;
    const low = HEADS.filter((h) => (pred.reasons || []).includes(`${h}_below_threshold`));
    const button = el('button', {
      class: `queue-item reason-${reason === 'quality_check' ? 'quality' : 'uncertain'}${selected ? ' selected' : ''}`,
      testid: 'queue-item',
      attrs: { type: 'button', 'data-id': m.id, 'aria-current': selected ? 'true' : 'false', tabindex: selected ? '0' : '-1' },
    },
    el('span', { class: 'qi-top' },
      el('span', { class: `badge badge-${reason === 'quality_check' ? 'quality' : 'uncertain'}`, text: t(`reason_${reason}`) }),
      el('span', { class: 'qi-id', text: `#${m.id}` }),
      el('time', { class: 'qi-time', text: formatTime(m.created_at, true), attrs: { datetime: m.created_at } })),
    el('span', { class: 'qi-text', text: m.text, testid: 'queue-item-text', lang: LANGS.includes(m.language) ? m.language : null, attrs: { dir: 'auto' } }),
    el('span', { class: 'qi-meta' },
      el('span', { class: 'tag', text: m.channel }),
      el('span', { class: 'tag', text: (m.language || '?').toUpperCase(), title: langName(m.language) }),
      el('span', { class: 'qi-pred' },
        el('span', { class: 'qi-pred-label', text: labelName('topic', (m.labels || {}).topic ?? topic.label) }),
        el('span', {
          class: `qi-pred-conf${low.includes('topic') ? ' low' : ''}`,
          text: low.includes('topic') ? `${pct(topic.confidence)} ↓` : pct(topic.confidence),
          title: low.includes('topic') ? t('belowThreshold') : null,
        }))));
    // One tab stop for the whole list (the selected item; j/k and arrows move): tabbing through the
    // page must not select, and so reset, another message on the way to the form.
    button.addEventListener('click', () => select(m.id));
    return el('li', {}, button);
  }

  function select(id, { scroll = true } = {}) {
    if (!state.items.some((m) => m.id === id)) return;
    const changed = state.selectedId !== id;
    state.selectedId = id;
    for (const b of document.querySelectorAll('#queue-list .queue-item')) {
      const on = Number(b.dataset.id) === id;
      b.classList.toggle('selected', on);
      b.setAttribute('aria-current', on ? 'true' : 'false');
      b.tabIndex = on ? 0 : -1;
      if (on && scroll) b.scrollIntoView({ block: 'nearest' });
    }
    if (changed) renderDetail();
  }

  function selectedButton() {
    return document.querySelector(`#queue-list .queue-item[data-id="${Number(state.selectedId)}"]`);
  }

  function focusSelectedItem() {
    const b = selectedButton();
    if (b) b.focus({ preventScroll: false });
  }

  async function move(delta) {
    if (!state.items.length) return;
    let idx = state.items.findIndex((m) => m.id === state.selectedId);
    if (idx < 0) idx = 0;
    let next = idx + delta;
    if (next >= state.items.length && state.nextCursor && !state.loading) {
      await loadQueue();
    }
    next = Math.max(0, Math.min(state.items.length - 1, next));
    const focusWasOnList = document.activeElement && document.activeElement.classList.contains('queue-item');
    select(state.items[next].id);
    if (focusWasOnList) focusSelectedItem();
  }

  function removeItem(id) {
    const idx = state.items.findIndex((m) => m.id === id);
    if (idx < 0) return;
    state.items.splice(idx, 1);
    if (state.selectedId === id) {
      const next = state.items[Math.min(idx, state.items.length - 1)];
      state.selectedId = next ? next.id : null;
    }
    renderList();
    renderDetail();
    if (!state.items.length && state.nextCursor) {
      loadQueue().then(() => focusSelectedItem());
    } else if (!state.items.length) {
      toast(t('queueDone'), 'info');
    }
  }

  // ---------------------------------------------------------------------------------------
  // Detail panel
  // ---------------------------------------------------------------------------------------

  function renderDetail({ preserve = false } = {}) {
    const m = currentItem();
    $('detail-placeholder').hidden = !!m;
    $('detail-body').hidden = !m;
    if (!m) return;
    const pred = m.prediction || {};
    const reasons = Array.isArray(pred.reasons) ? pred.reasons : [];

    $('detail-title').textContent = t('messageN', { id: m.id });

    // meta line
    const meta = clear($('detail-meta'));
    const reason = m.review_reason || 'uncertain';
    const badge = el('span', { class: `badge badge-${reason === 'quality_check' ? 'quality' : 'uncertain'}`, text: t(`reason_${reason}`) });
    meta.append(badge);
    if (typeof m.review_priority === 'number') {
      meta.append(el('span', { class: 'meta-item', text: t('priority', { p: num(m.review_priority, 2) }) }));
    }
    meta.append(metaItem(t('channel'), m.channel));
    meta.append(metaItem(t('language'), langName(m.language)));
    meta.append(metaItem(t('received'), formatTime(m.created_at)));
    if (m.posted_at) meta.append(metaItem(t('posted'), formatTime(m.posted_at)));
    if (m.author) meta.append(metaItem(t('author'), m.author));
    const hidden = Object.values(m.redactions || {}).reduce((a, b) => a + (Number(b) || 0), 0);
    if (hidden > 0) meta.append(el('span', { class: 'meta-item meta-redacted', text: t('redacted', { n: hidden }) }));

    // text (textContent: the text is data, never markup)
    const text = $('detail-text');
    text.textContent = m.text ?? '';
    if (LANGS.includes(m.language)) text.lang = m.language; else text.removeAttribute('lang');

    // heads
    const heads = clear($('pred-heads'));
    for (const h of HEADS) heads.append(renderHead(h, pred[h], reasons, m.language));
    heads.append(renderDistrict(pred.district));

    // reasons
    const rl = clear($('detail-reasons'));
    if (!reasons.length) {
      rl.append(el('li', { class: 'reason muted', text: reason === 'quality_check' ? t('qualityCheckNote') : t('noReasons') }));
    } else {
      if (reason === 'quality_check') rl.append(el('li', { class: 'reason', text: t('qualityCheckNote') }));
      for (const r of reasons) rl.append(renderReason(r));
    }

    // recipient
    const rec = clear($('detail-recipient'));
    const recipient = pred.recipient;
    if (recipient && typeof recipient === 'object') {
      const names = recipient.name || {};
      const name = (typeof names === 'object' && (names[state.lang] || names.en)) || labelName('authority', recipient.authority);
      rec.append(el('p', { class: 'recipient-name', text: name, testid: 'recipient-name' }));
      const dl = el('dl', { class: 'recipient-meta' });
      if (recipient.authority) dl.append(el('dt', { text: t('head_authority') }), el('dd', { text: labelName('authority', recipient.authority) }));
      if (recipient.district) dl.append(el('dt', { text: t('head_district') }), el('dd', { text: labelName('district', recipient.district) }));
      if (recipient.channel) dl.append(el('dt', { text: t('channel') }), el('dd', {}, el('code', { text: recipient.channel })));
      rec.append(dl);
    } else {
      rec.append(el('p', { class: 'warn-text', text: t('noRecipient') }));
    }

    // explanation
    const ex = clear($('detail-explanation'));
    const expl = pred.explanation && typeof pred.explanation === 'object' ? pred.explanation : {};
    let any = false;
    for (const h of HEADS) {
      const feats = Array.isArray(expl[h]) ? expl[h] : [];
      if (!feats.length) continue;
      any = true;
      const max = Math.max(...feats.map((f) => Math.abs(Number(f[1]) || 0)), 1e-9);
      const row = el('div', { class: 'explain-row' },
        el('span', { class: 'explain-head', text: t(`head_${h}`) }));
      const chips = el('ul', { class: 'features', attrs: { 'aria-label': t(`head_${h}`) } });
      for (const [feature, weight] of feats) {
        const raw = String(feature);
        const chip = el('li', { class: 'feature', title: `“${raw}” · ${num(weight, 3)}` },
          el('span', { class: 'feature-name', text: showSpaces(raw) }),
          el('span', { class: 'feature-weight', text: num(weight, 2) }));
        chip.style.setProperty('--w', String(Math.max(0.08, Math.abs(Number(weight) || 0) / max)));
        chips.append(chip);
      }
      row.append(chips);
      ex.append(row);
    }
    if (!any) ex.append(el('p', { class: 'muted', text: t('noExplanation') }));

    renderForm(m, preserve);
  }

  function showSpaces(feature) {
    return feature.replace(/^ +| +$/g, (m) => '\u2423'.repeat(m.length));
  }

  function metaItem(label, value) {
    return el('span', { class: 'meta-item' }, el('span', { class: 'meta-label', text: `${label}: ` }), el('span', { text: value ?? '—' }));
  }

  // The threshold the engine applied: the message language's when the model has one per language.
  function thresholdFor(h, language) {
    const byLang = state.thresholdsByLanguage[h] || {};
    return Number(language in byLang ? byLang[language] : state.thresholds[h]);
  }

  function renderHead(h, r, reasons, language) {
    const card = el('div', { class: 'head-card', testid: `pred-${h}` });
    card.append(el('div', { class: 'head-name', text: t(`head_${h}`) }));
    if (!r || typeof r !== 'object') {
      card.append(el('div', { class: 'head-label muted', text: '—' }));
      return card;
    }
    const low = reasons.includes(`${h}_below_threshold`);
    card.classList.toggle('is-low', low);
    card.append(el('div', { class: 'head-label', text: labelName(h, r.label), title: r.label }));
    const conf = clamp01(r.confidence);
    const bar = el('div', {
      class: 'bar', attrs: {
        role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': Math.round(conf * 100),
        'aria-label': `${t(`head_${h}`)}: ${pct(conf)}`,
      },
    }, el('span', { class: 'bar-fill' }));
    bar.firstChild.style.width = `${(conf * 100).toFixed(1)}%`;
    const th = thresholdFor(h, language);
    if (Number.isFinite(th) && th > 0 && th < 1) {
      const tick = el('span', { class: 'bar-tick', title: t('threshold', { p: pct(th) }) });
      tick.style.left = `${(th * 100).toFixed(1)}%`;
      bar.append(tick);
    }
    card.append(el('div', { class: 'conf-row' }, bar,
      el('span', { class: 'conf-value', text: pct(conf), testid: `conf-${h}` })));
    card.append(el('div', { class: `conf-status ${low ? 'low' : 'ok'}`, text: low ? t('belowThreshold') : t('confident') }));
    const alts = (Array.isArray(r.alternatives) ? r.alternatives : []).filter((a) => Array.isArray(a) && a[0] !== r.label).slice(0, 3);
    if (alts.length) {
      const ul = el('ul', { class: 'alts', attrs: { 'aria-label': t('alternatives') } });
      for (const [label, p] of alts) {
        const fill = el('span', { class: 'alt-fill' });
        fill.style.width = `${(clamp01(p) * 100).toFixed(1)}%`;
        ul.append(el('li', {},
          el('span', { class: 'alt-name', text: labelName(h, label), title: labelName(h, label) }),
          el('span', { class: 'alt-p', text: pct(p) }),
          el('span', { class: 'alt-bar', attrs: { 'aria-hidden': 'true' } }, fill)));
      }
      card.append(el('div', { class: 'alts-title', text: t('alternatives') }), ul);
    }
    return card;
  }

  function renderDistrict(district) {
    return el('div', { class: 'district-row', testid: 'pred-district' },
      el('span', { class: 'head-name', text: t('head_district') }),
      el('span', { class: `district-value${district ? '' : ' muted'}`, text: labelName('district', district) }));
  }

  function renderReason(r) {
    const s = String(r);
    if (s.startsWith('rule:')) {
      const [, rule = '', ...rest] = s.split(':');
      return el('li', { class: 'reason reason-rule', text: t('r_rule', { rule, text: rest.join(':') }) });
    }
    if (s.startsWith('urgency_route:')) {
      const level = s.slice('urgency_route:'.length);
      return el('li', { class: 'reason reason-rule', text: t('r_urgency_route', { level: labelName('urgency', level) }) });
    }
    const key = `r_${s}`;
    const known = key in I18N.en;
    return el('li', { class: `reason${s === 'rule_override' || s === 'rule_vetoed' ? ' reason-rule' : ''}`, text: known ? t(key) : s });
  }

  // ---------------------------------------------------------------------------------------
  // Correction form
  // ---------------------------------------------------------------------------------------

  function original(m, f) {
    const labels = m.labels || {};
    if (labels[f] !== undefined) return labels[f] ?? '';
    const p = (m.prediction || {})[f];
    return (p && typeof p === 'object' ? p.label : p) ?? '';
  }

  function renderForm(m, preserve) {
    const kept = {};
    if (preserve) for (const f of FIELDS) kept[f] = $(`select-${f}`).value;
    for (const f of FIELDS) {
      const sel = $(`select-${f}`);
      const orig = original(m, f);
      const opts = (state.taxonomy && state.taxonomy[f]) || [];
      const nodes = [];
      if (f === 'district') {
        // No label means "not specified"; a correction can't clear a district (null = unchanged).
        nodes.push(el('option', { text: t('noneOption'), attrs: { value: '', disabled: orig !== '' } }));
      }
      const seen = new Set();
      for (const o of opts) {
        seen.add(o.label);
        nodes.push(el('option', { text: labelName(f, o.label), attrs: { value: o.label } }));
      }
      if (orig !== '' && !seen.has(orig)) nodes.push(el('option', { text: String(orig), attrs: { value: orig } }));
      sel.replaceChildren(...nodes);
      sel.value = preserve && kept[f] !== undefined && [...sel.options].some((o) => o.value === kept[f]) ? kept[f] : orig;
      sel.dataset.original = orig;
    }
    if (!preserve) {
      $('comment').value = '';
      showMessage($('correction-error'), '');
    }
    updateFormState();
  }

  function changedFields() {
    return FIELDS.filter((f) => {
      const sel = $(`select-${f}`);
      return sel.value !== (sel.dataset.original ?? '') && sel.value !== '';
    });
  }

  function updateFormState() {
    const changed = changedFields();
    for (const f of FIELDS) {
      const sel = $(`select-${f}`);
      const on = changed.includes(f);
      sel.closest('.field').classList.toggle('changed', on);
      $(`was-${f}`).textContent = on ? t('wasValue', { label: labelName(f, sel.dataset.original) }) : '';
    }
    const hasComment = $('comment').value.trim() !== '';
    $('submit-label').textContent = state.busy ? t('saving') : changed.length ? t('submitN', { n: changed.length }) : t('submit');
    $('submit').disabled = state.busy || (!changed.length && !hasComment);
    $('confirm').disabled = state.busy || changed.length > 0;
  }

  async function submit(mode) {
    const m = currentItem();
    if (!m || state.busy) return;
    const body = {};
    const changed = changedFields();
    if (mode === 'confirm') {
      if (changed.length) {
        toast(t('changedUseSubmit'), 'info');
        return;
      }
      // The prediction is right: record every current label, so the confirmation is explicit.
      for (const f of FIELDS) {
        const v = original(m, f);
        if (v !== '') body[f] = v;
      }
    } else {
      for (const f of changed) body[f] = $(`select-${f}`).value;
    }
    const comment = $('comment').value.trim();
    if (comment) body.comment = comment;
    if (!Object.keys(body).length) {
      toast(t('nothingChanged'), 'info');
      return;
    }
    const id = m.id;
    state.busy = true;
    showMessage($('correction-error'), '');
    updateFormState();
    try {
      await api(`/v1/messages/${encodeURIComponent(id)}/corrections`, { method: 'POST', body });
      state.busy = false;
      toast(mode === 'confirm' ? t('savedConfirm', { id }) : t('savedCorrection', { id }), 'success');
      removeItem(id);
      focusSelectedItem();
    } catch (err) {
      state.busy = false;
      if (err instanceof ApiError && err.status === 404) {
        toast(t('msgGone', { id }), 'info');
        removeItem(id);
        focusSelectedItem();
        return;
      }
      const msg = handleError(err);
      if (msg) {
        showMessage($('correction-error'), () => errorText(err));
        toast(msg, 'error');
      }
    } finally {
      if (state.user) {
        updateFormState();
        // The button was disabled while saving, which drops keyboard focus: give it back after a failure.
        if (state.items.some((m) => m.id === id) && (!document.activeElement || document.activeElement === document.body)) {
          $(mode === 'confirm' ? 'confirm' : 'submit').focus();
        }
      }
    }
  }

  // ---------------------------------------------------------------------------------------
  // Help overlay
  // ---------------------------------------------------------------------------------------

  function toggleHelp() {
    const d = $('help');
    if (d.open) d.close();
    else d.showModal();
  }

  // ---------------------------------------------------------------------------------------
  // Keyboard
  // ---------------------------------------------------------------------------------------

  const CODE_KEYS = { KeyJ: 'j', KeyK: 'k', KeyC: 'c', Digit1: '1', Digit2: '2', Digit3: '3', Digit4: '4',
    Numpad1: '1', Numpad2: '2', Numpad3: '3', Numpad4: '4' };

  /** The shortcut a key press means, on Latin and on Cyrillic (kk/ru) keyboard layouts alike. */
  function shortcutOf(e) {
    if (e.key === '?' || (e.code === 'Slash' && e.shiftKey)) return '?';
    if (/^[a-zA-Z0-9]$/.test(e.key)) return e.key.toLowerCase();
    return CODE_KEYS[e.code] || e.key;
  }

  function onKeydown(e) {
    if (!state.user || e.defaultPrevented || e.isComposing) return;
    if (e.altKey || e.metaKey) return;
    const help = $('help');
    const key = shortcutOf(e);
    if (help.open) {
      if (key === '?') { e.preventDefault(); help.close(); }
      return; // Esc closes the dialog natively
    }
    const target = e.target instanceof Element ? e.target : document.body;
    const tag = target.tagName;
    const typing = tag === 'TEXTAREA' || tag === 'INPUT' || target.isContentEditable;
    const inForm = !!target.closest('#correction-form');
    // A held key repeats: one press, one action (a held "c" must not confirm message after message);
    // in the comment box a held key types as usual.
    if (e.repeat && !typing && (e.key === 'Enter' || shortcutOf(e) === 'c')) { e.preventDefault(); return; }

    if (e.key === 'Enter' && e.ctrlKey) {
      if (typing && !inForm) return;
      e.preventDefault();
      submit('correct');
      return;
    }
    if (typing) {
      if (e.key === 'Escape' && inForm) { e.preventDefault(); target.blur(); focusSelectedItem(); }
      return; // no shortcuts while typing
    }
    if (e.ctrlKey) return;

    if (tag === 'SELECT') {
      // Letters and arrows belong to the list here (type-ahead, change value).
      if (e.key === 'Enter') { e.preventDefault(); submit('correct'); }
      else if (['1', '2', '3', '4'].includes(key) && /^Digit|^Numpad/.test(e.code)) { e.preventDefault(); focusField(key); }
      else if (e.key === 'Escape') { e.preventDefault(); focusSelectedItem(); }
      else if (key === '?') { e.preventDefault(); toggleHelp(); }
      return;
    }

    const onButton = tag === 'BUTTON' || tag === 'A';
    const onQueueItem = target.classList.contains('queue-item');
    switch (key) {
      case 'j': case 'ArrowDown': move(1); break;
      case 'k': case 'ArrowUp': move(-1); break;
      case 'Enter':
        if (onButton && !onQueueItem) return; // let buttons do their own thing
        submit('correct');
        break;
      case 'c': submit('confirm'); break;
      case '1': case '2': case '3': case '4': focusField(key); break;
      case '?': toggleHelp(); break;
      default: return;
    }
    e.preventDefault();
  }

  function focusField(n) {
    if (!currentItem()) return;
    const sel = $(`select-${FIELDS[Number(n) - 1]}`);
    if (sel) sel.focus();
  }

  // ---------------------------------------------------------------------------------------
  // Start
  // ---------------------------------------------------------------------------------------

  function wire() {
    $('signin-form').addEventListener('submit', (e) => {
      e.preventDefault();
      signIn($('signin-key').value.trim());
    });
    $('signout').addEventListener('click', () => signOut());
    for (const b of document.querySelectorAll('.lang-btn')) b.addEventListener('click', () => setLang(b.dataset.lang));
    for (const b of document.querySelectorAll('.filter .chip-btn')) {
      b.addEventListener('click', () => {
        if (state.head === b.dataset.head) return;
        state.head = b.dataset.head;
        loadQueue({ reset: true });
      });
    }
    $('refresh').addEventListener('click', () => loadQueue({ reset: true }));
    $('load-more').addEventListener('click', () => loadQueue());
    $('correction-form').addEventListener('submit', (e) => { e.preventDefault(); submit('correct'); });
    $('confirm').addEventListener('click', () => submit('confirm'));
    for (const f of FIELDS) $(`select-${f}`).addEventListener('change', updateFormState);
    $('comment').addEventListener('input', updateFormState);
    $('help-button').addEventListener('click', toggleHelp);
    $('help-close').addEventListener('click', () => $('help').close());
    $('help').addEventListener('click', (e) => { if (e.target === $('help')) $('help').close(); });
    document.addEventListener('keydown', onKeydown);
  }

  function start() {
    state.lang = initialLang();
    applyStaticStrings();
    wire();
    let saved = null;
    try { saved = sessionStorage.getItem(KEY_STORAGE); } catch { /* storage disabled */ }
    if (saved) signIn(saved, { silent: true });
    else showSignIn('');
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
