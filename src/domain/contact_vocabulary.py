"""The words the contact-detail filter knows: top-level domains, short-link hosts, the
labels that introduce an order or tracking number, currencies and units.

Data only (lower case; ASCII but for currency signs and two Cyrillic abbreviations); the
rules that use it are in ``contact_filter``. The lists are meant to be reasonable, not
complete: the generic and country TLDs people actually type, minus those that are mostly
file extensions (``zip``, ``mov``, ``md``, ``py``, ``sh``, ``ps``, ``so``) or English words
that end a sentence more often than a domain (``am``, ``as``, ``one``); no currency code
that is an English word (``try``, ``all``, ``pen``, ``cop``: "try 07700900123" would read
as a price).
"""

from __future__ import annotations


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


GENERIC_TLDS = _words("""
com net org info biz name pro mobi int edu gov mil aero coop jobs travel tel asia cat
io co me ai app dev xyz online site store shop tech top club live link click pw cc tv ws
fm gg ly to vip work world life space website blog email cloud digital news page fun
icu buzz agency company services solutions studio design media network group market
sale deals promo bid trade today chat social team zone win bar rest
""")

COUNTRY_TLDS = _words("""
ac ad ae af ag al ao ar at au aw az ba bb bd be bf bg bh bi bj bn bo br bs bt bw by bz
ca cd cf cg ch ci ck cl cm cn cr cu cv cy cz de dk dm do dz ec ee eg er es et eu fi fj
fo fr ga ge gf gh gi gl gm gn gp gr gt gu gy hk hn hr ht hu id ie il im in iq ir is it je
jm jo jp ke kg kh ki km kn kr kw ky kz la lb lc li lk lr ls lt lu lv ly ma mc mg mk ml mm
mn mo mr ms mt mu mv mw mx my mz na nc ne nf ng ni nl no np nr nu nz om pa pe pf pg ph pk
pl pr pt pw qa re ro rs ru rw sa sb sc sd se sg si sk sl sn sr st su sv sy sz tc td tg th
tj tk tl tm tn tr tt tw tz ua ug uk us uy uz va vc ve vg vi vn vu wf ws ye yt za zm zw
""")

TLDS = GENERIC_TLDS | COUNTRY_TLDS

# Top-level domains that are also everyday English words: after a missing space
# ("Yes.It works", "Ok.Me too") they are read as a sentence, not a domain, when written
# with a capital letter.
WORD_TLDS = _words("at be by do go in is it me my no so to us")

# Messaging and short-link hosts: always links, whatever their TLD.
SHORT_LINK_HOSTS = _words("""
t.me telegram.me telegram.dog wa.me wa.link m.me fb.me vk.me vk.cc line.me viber.me
bit.ly goo.gl tinyurl.com ow.ly is.gd t.co lnkd.in cutt.ly rb.gy shorturl.at s.id
linktr.ee qr.ae t.ly tiny.cc rebrand.ly buff.ly snip.ly
""")

# Words that, right before a digit run, say it is a reference number, not a phone.
REFERENCE_WORDS = (
    "order", "orders", "invoice", "inv", "tracking", "track", "trk", "shipment", "parcel",
    "package", "awb", "waybill", "consignment", "ref", "reference", "sku", "item", "article",
    "art", "model", "part", "product", "ticket", "case", "receipt", "transaction", "txn",
    "booking", "reservation", "confirmation", "claim", "rma", "return", "refund", "batch",
    "lot", "serial", "s/n", "sn", "imei", "ean", "upc", "gtin", "isbn", "asin", "iban",
    "account", "acct", "card", "po", "version",
    "ver", "build", "barcode", "voucher", "coupon",
)

# Words between the reference word and the number ("order number is 12345678"); alone
# they excuse nothing ("my number is ...").
REFERENCE_FILLERS = ("no", "nr", "num", "number", "id", "is", "was", "code")

# Letters glued to a number by a dash ("tel-5551234567") that still announce a phone.
PHONE_WORDS = _words("tel phone call mob mobile cell whatsapp wa viber telegram fax")

CURRENCY_SIGNS = "$€£¥₹₽₩₺₴₪₦฿₫₱¢"

CURRENCY_WORDS = (
    "usd", "eur", "gbp", "jpy", "cny", "rmb", "inr", "rub", "chf", "cad", "aud", "nzd", "pln",
    "sek", "nok", "dkk", "czk", "huf", "brl", "mxn", "zar", "aed", "sar", "sgd", "hkd",
    "krw", "uah", "ils", "ngn", "thb", "vnd", "php", "idr", "myr", "bgn", "uzs", "kzt", "ars",
    "clp", "egp", "pkr", "bdt", "lkr", "kes", "ghs", "dzd", "qar", "kwd", "omr", "bhd", "jod",
    "twd", "isk", "rsd", "gel", "amd", "azn", "byn", "mdl",
    "dollars", "dollar", "euros", "euro", "pounds", "bucks", "rubles", "roubles", "rupees",
    "yen", "yuan", "kr", "zl", "lei", "dh", "\u0440\u0443\u0431", "\u0433\u0440\u043d",  # rub, grn
)

# Units after a number that make it a quantity ("10 000 000 pcs", "2 500 000 views").
UNIT_WORDS = (
    "pcs", "pc", "pieces", "piece", "units", "unit", "items", "sets", "pairs", "packs",
    "boxes", "rolls", "sheets", "ml", "ltr", "litres", "liters", "kg", "kgs", "gr", "grams",
    "mg", "tons", "tonnes", "cm", "mm", "km", "sqm", "inches", "inch", "ft", "feet", "yds",
    "lbs", "lb", "oz", "gb", "tb", "mb", "kb", "mah", "wh", "kwh", "kw", "hz", "khz", "mhz",
    "ghz", "rpm", "px", "dpi", "views", "likes", "followers", "subscribers", "sold", "copies",
    "years", "months", "days", "hours", "hrs", "minutes", "mins", "seconds", "secs", "times",
    "people", "users", "stars", "kph", "mph",
)
