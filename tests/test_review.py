"""Review-queue ordering (active learning), as documented in triage/review.py."""

import random

from triage.review import review_priority, uncertainty


def head(p1, p2):
    return {"label": "a", "confidence": p1, "alternatives": [["a", p1], ["b", p2]]}


def result(p1=0.5, p2=0.4, reasons=(), needs_review=True):
    return {"topic": head(p1, p2), "authority": head(0.9, 0.05), "urgency": head(0.9, 0.05),
            "needs_review": needs_review, "reasons": list(reasons)}


def test_uncertainty_is_one_minus_the_margin_of_the_top_two():
    assert uncertainty(head(0.41, 0.40)) > uncertainty(head(0.41, 0.10)) > uncertainty(head(0.95, 0.01))


def test_close_split_outranks_a_clear_one():
    rng = random.Random(0)
    assert review_priority(result(0.41, 0.40), rng, 0)[1] > review_priority(result(0.6, 0.1), rng, 0)[1]


def test_rule_conflict_and_head_disagreement_raise_priority():
    rng = random.Random(0)
    base = review_priority(result(), rng, 0)[1]
    assert review_priority(result(reasons=["rule_override"]), rng, 0)[1] == round(base + 0.5, 4)
    assert review_priority(result(reasons=["authority_from_topic_default"]), rng, 0)[1] == round(base + 0.25, 4)
    # A critical message rerouted to the emergency service against the authority head: a conflict too.
    assert review_priority(result(reasons=["urgency_route:critical"]), rng, 0)[1] == round(base + 0.5, 4)
    both = ["rule_override", "urgency_route:critical"]
    assert review_priority(result(reasons=both), rng, 0)[1] == round(base + 0.5, 4)


def test_confident_messages_are_sampled_for_quality_checks_at_the_given_rate():
    rng = random.Random(0)
    reasons = [review_priority(result(needs_review=False), rng, 0.1)[0] for _ in range(5000)]
    share = reasons.count("quality_check") / len(reasons)
    assert 0.08 < share < 0.12 and set(reasons) <= {"quality_check", None}
    assert review_priority(result(needs_review=False), rng, 0.0) == (None, 0.0)
