"""Investor suitability (投资者适当性): the three-dimension match of the domain reference §1.6.

On every save of a product recommendation or a product sale (while the sale is still being
checked), this plugin derives from the customer's assessment and the product:

- ``risk``: an ordinary investor's level C1–C5 must reach the product's R1–R5; professional
  investors match every level;
- ``horizon``: the product's horizon (short < medium < long) may not exceed the customer's;
- ``variety``: the product's variety must be among the customer's intended varieties;

and the overall result: ``match`` (all three fit), ``mismatch_overridable`` (one or more do
not, nothing prohibits the sale) or ``prohibited``: a lowest-category customer and a product
above R1, an ordinary investor without a valid assessment (missing, not valid, or past its
``valid_until``), or a product for professional investors only.

It only derives. What blocks is declared in the entities' check constraints, editable in the
designer: staff may only recommend and sell what matches; a prohibited sale goes nowhere; a
mismatch goes ahead only when the customer initiated it, insists in writing after the special
risk warning, and (for R5 or large amounts) a supervisor who is not the seller reviewed it.
"""

from __future__ import annotations

from scrm.plugins import hookimpl

LEVELS = {"C1": 1, "C2": 2, "C3": 3, "C4": 4, "C5": 5}
RATINGS = {"R1": 1, "R2": 2, "R3": 3, "R4": 4, "R5": 5}
HORIZONS = {"short": 1, "medium": 2, "long": 3}
PROFESSIONAL = frozenset({"professional_1", "professional_2", "professional_3"})
CHECKING = frozenset({None, "draft", "suitability_check", "blocked"})  # sale states still being matched


def facts_of(customer: dict, assessment: dict | None, today) -> dict:
    """What the match reads about the investor: the sale's assessment when it names one, else
    the customer's current suitability fields (kept in step with their latest assessment)."""
    if assessment is not None:
        valid = assessment.get("status") == "valid" and (
            assessment.get("valid_until") is None or assessment["valid_until"] >= today
        )
        return {
            "level": assessment.get("final_level"),
            "lowest": bool(assessment.get("is_lowest_category")),
            "horizon": assessment.get("intended_horizon") or customer.get("intended_horizon"),
            "varieties": assessment.get("intended_varieties") or customer.get("intended_varieties") or [],
            "valid": valid and assessment.get("final_level") is not None,
        }
    until = customer.get("risk_valid_until")
    return {
        "level": customer.get("risk_level"),
        "lowest": bool(customer.get("is_lowest_category")),
        "horizon": customer.get("intended_horizon"),
        "varieties": customer.get("intended_varieties") or [],
        "valid": customer.get("risk_level") is not None and until is not None and until >= today,
    }


def match(customer: dict, facts: dict, product: dict) -> tuple[str, list[str], str | None]:
    """(result, mismatched dimensions, why it is prohibited)."""
    professional = customer.get("investor_category") in PROFESSIONAL
    rating = product.get("risk_level")
    dims = []
    if not professional:
        level_ok = facts["level"] is not None and LEVELS.get(facts["level"], 0) >= RATINGS.get(rating, 6)
        if facts["lowest"] and rating != "R1":
            level_ok = False
        if not level_ok:
            dims.append("risk")
        if HORIZONS.get(product.get("investment_horizon") or "short", 1) > HORIZONS.get(facts["horizon"], 0):
            dims.append("horizon")
        if (product.get("investment_variety") or "other") not in facts["varieties"]:
            dims.append("variety")
    reason = None
    if not professional:
        if facts["lowest"] and rating != "R1":
            reason = "lowest_category"
        elif not facts["valid"]:
            reason = "no_valid_assessment"
        elif product.get("target_investor") == "professional_only":
            reason = "threshold_not_met"
    if reason:
        return "prohibited", dims, reason
    return ("match" if not dims else "mismatch_overridable"), dims, None


@hookimpl
def scrm_derive_record(entity, record, old, lookup, today):
    if entity.name not in ("product_sale", "product_recommendation"):
        return
    if entity.name == "product_sale" and old is not None and old.get("status") not in CHECKING:
        return  # the match is fixed once the sale moved on (immutable evidence, SR-09)
    if entity.name == "product_recommendation" and old is not None:
        return  # a recommendation records the match at the moment it was made
    customer = lookup("customer", record.get("customer"))
    product = lookup("product", record.get("product"))
    if customer is None or product is None:
        return  # the reference checks report the missing record
    assessment = lookup("suitability_assessment", record.get("assessment")) if record.get("assessment") else None
    facts = facts_of(customer, assessment, today)
    result, dims, reason = match(customer, facts, product)
    staff_mismatch = record.get("initiated_by") == "staff" and result == "mismatch_overridable"
    blocked = reason or ("risk_mismatch_staff_initiated" if staff_mismatch else None)
    record["match_result"] = result
    record["blocked_reason"] = blocked
    if entity.name == "product_sale":
        record["mismatch_dims"] = dims
        record["customer_level_at_sale"] = facts["level"]
        record["product_level_at_sale"] = product.get("risk_level")
    else:
        record["risk_dim_ok"] = "risk" not in dims
        record["horizon_dim_ok"] = "horizon" not in dims
        record["variety_dim_ok"] = "variety" not in dims
        record["suitability_snapshot"] = {
            "risk_level": facts["level"], "is_lowest": facts["lowest"], "horizon": facts["horizon"],
            "varieties": list(facts["varieties"]), "valid": facts["valid"], "product_risk": product.get("risk_level"),
        }  # fmt: skip
