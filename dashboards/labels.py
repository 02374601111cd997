"""How the closed vocabularies read on screen, and one colour per channel for every chart.

The ids (``ivr``, ``gotone``, ``changsha``) are what ClickHouse stores and what filters carry;
these labels are for people only and never reach SQL.
"""

from schemas.envelope import PREFECTURES

CHANNEL_LABELS: dict[str, str] = {
    "ivr": "10086 IVR",
    "sms": "SMS hall",
    "web": "Web hall",
    "wap": "WAP hall",
    "kiosk": "24h kiosks",
    "agent": "Agents",
}

# Colour-blind-safe (Okabe-Ito); agents, the costly channel, get the warm red.
CHANNEL_COLORS: dict[str, str] = {
    "ivr": "#0072B2",
    "sms": "#009E73",
    "web": "#56B4E9",
    "wap": "#CC79A7",
    "kiosk": "#E69F00",
    "agent": "#D55E00",
}

BRAND_LABELS: dict[str, str] = {
    "gotone": "GoTone",
    "mzone": "M-Zone",
    "easyown": "Easyown",
    "enterprise": "Enterprise",
}

#: Equipment events (a kiosk fault) carry no brand; ClickHouse stores ``''`` for them.
NO_BRAND_LABEL = "No brand (equipment)"

PREFECTURE_LABELS: dict[str, str] = {p: p.title() for p in PREFECTURES}


def brand_label(brand: str) -> str:
    """The brand as people say it; ``''`` is an equipment event, not a missing value."""
    return BRAND_LABELS.get(brand, NO_BRAND_LABEL if brand == "" else brand)
