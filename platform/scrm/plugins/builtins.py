"""SCRM's own field types, notification channels, calendars and condition functions, registered
through the same hooks a plugin uses (a plugin's of the same name replaces one of them)."""

from __future__ import annotations

from ..fields.choice import EnumType, MultiEnumType, TagsType
from ..fields.numbers import BoolType, DecimalType, IntegerType, MoneyType, PercentType
from ..fields.relation import JsonType, RefType
from ..fields.temporal import DateTimeType, DateType
from ..fields.text import EmailType, IdNumberType, PhoneType, StringType, TextType, UrlType
from .hookspecs import hookimpl

BUILTIN_FIELD_TYPES = (
    StringType,
    TextType,
    IntegerType,
    DecimalType,
    MoneyType,
    PercentType,
    BoolType,
    DateType,
    DateTimeType,
    EnumType,
    MultiEnumType,
    TagsType,
    RefType,
    EmailType,
    PhoneType,
    IdNumberType,
    UrlType,
    JsonType,
)


@hookimpl
def scrm_field_types():
    return [cls() for cls in BUILTIN_FIELD_TYPES]


@hookimpl
def scrm_notification_channels(config):
    from ..notify.channels import EmailChannel, SmsGatewayChannel  # (they read the app's config)

    return [EmailChannel(config), SmsGatewayChannel(config)]


@hookimpl
def scrm_calendars():
    from ..jobs.calendars import builtin_calendars

    return builtin_calendars()


@hookimpl
def scrm_actions():
    from ..alerts.builtin_actions import builtin_actions  # (the alert engine runs them)

    return builtin_actions()


@hookimpl
def scrm_condition_functions():
    from ..conditions.functions import builtin_functions

    return builtin_functions()
