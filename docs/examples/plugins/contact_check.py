"""Contact check: refuse throw-away e-mail addresses on customers, and show on the 360° page
which ways of reaching the customer are on file. (The tutorial in docs/plugins.md.)"""

from scrm.plugins import hookimpl

__version__ = "1.0.0"
SCRM_REQUIRES = ">=0.1,<2"

THROWAWAY = {"mailinator.com", "10minutemail.com", "guerrillamail.com", "yopmail.com"}
WAYS = [("mobile", "手机号"), ("phone_alt", "备用电话"), ("email", "电子邮箱"), ("address", "联系地址")]


@hookimpl
def scrm_check_record(entity, record):
    """A problem at the field blocks the save, in the form and the API alike."""
    email = record.get("email") or ""
    if entity.name == "customer" and email.rpartition("@")[2].lower() in THROWAWAY:
        return [("email", "请填写客户本人长期使用的邮箱，不接受临时邮箱。")]
    return []


@hookimpl
def scrm_customer_360_panels(record):
    """One panel: each way of reaching the customer, on file or missing (masked values stay masked)."""
    rows = [[label, "✓ 已登记" if record.get(name) else "— 缺失"] for name, label in WAYS]
    missing = sum(1 for _label, state in rows if state.startswith("—"))
    return [{"label": f"联系方式核对（缺 {missing} 项）", "columns": ["方式", "状态"], "rows": rows}]
