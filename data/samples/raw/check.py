"""Validate a raw JSONL slice written by a dataset helper: schema, allowed values, near-copies."""
import json, sys, collections, unicodedata

TOPICS = {"roads","public_transport","water_sewage","heating_hot_water","electricity_lighting","gas_supply",
  "housing_maintenance","waste_sanitation","landscaping","ecology","stray_animals","healthcare","education",
  "social_support","public_order","corruption","telecom","construction_land","public_services","other"}
AUTH = {"transport_roads_dept","water_utility","heating_utility","power_grid","utilities_dept","gas_utility",
  "housing_inspection","district_akimat","ecology_dept","veterinary_service","health_dept","education_dept",
  "social_dept","police","anticorruption","telecom_ministry","architecture_dept","gov_services","akimat_office",
  "emergency_service"}
KEYS = ["text","topic","authority","urgency","language","script","district","channel","kk_form","code_switched"]
KK = set("әғқңөұүһіӘҒҚҢӨҰҮҺІ")

def grams(t, n=5):
    t = " ".join(t.lower().split())
    return {t[i:i+n] for i in range(max(1, len(t)-n+1))}

path = sys.argv[1]
rows, errs = [], 0
for i, line in enumerate(open(path, encoding="utf-8"), 1):
    if not line.strip():
        continue
    try:
        r = json.loads(line)
    except Exception as e:
        print(f"line {i}: bad JSON: {e}"); errs += 1; continue
    p = []
    if sorted(r) != sorted(KEYS): p.append(f"keys {sorted(r)}")
    if r.get("topic") not in TOPICS: p.append(f"topic {r.get('topic')}")
    if r.get("authority") not in AUTH: p.append(f"authority {r.get('authority')}")
    if r.get("urgency") not in {"critical","high","medium","low"}: p.append("urgency")
    if r.get("urgency") == "critical" and r.get("authority") != "emergency_service": p.append("critical must be emergency_service")
    if r.get("language") not in {"kk","ru","en"}: p.append("language")
    if r.get("script") not in {"Cyrl","Latn"}: p.append("script")
    if r.get("district") not in {None,"almaty","baikonur","esil","saryarka","nura"}: p.append("district")
    if r.get("channel") not in {"telegram","instagram","facebook","x","vk","web"}: p.append("channel")
    if r.get("language") == "kk":
        if r.get("kk_form") not in {"cyrl","latn","folded"}: p.append("kk_form")
        if r.get("kk_form") == "folded" and KK & set(r.get("text","")): p.append("folded text has Kazakh letters")
        if r.get("kk_form") == "latn" and r.get("script") != "Latn": p.append("latn must be script Latn")
    elif r.get("kk_form") is not None: p.append("kk_form must be null for ru/en")
    if not isinstance(r.get("code_switched"), bool): p.append("code_switched bool")
    if not str(r.get("text","")).strip(): p.append("empty text")
    if p:
        print(f"line {i}: {'; '.join(p)}"); errs += 1
    rows.append(r)
g = [grams(r.get("text","")) for r in rows]
for a in range(len(g)):
    for b in range(a):
        j = len(g[a] & g[b]) / max(1, len(g[a] | g[b]))
        if j >= 0.6:
            print(f"near-copy (J={j:.2f}): line {b+1} ~ line {a+1}"); errs += 1
c = collections.Counter((r.get("topic"), r.get("language"), r.get("kk_form")) for r in rows)
print(f"{len(rows)} rows, {errs} problems")
for k in sorted(c, key=str): print(" ", k, c[k])
print("urgency:", dict(collections.Counter((r.get("topic"), r.get("urgency")) for r in rows)))
print("code_switched:", sum(bool(r.get("code_switched")) for r in rows))
