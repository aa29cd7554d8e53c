"""The contact-detail filter: what it hides, what it leaves alone, and that no text of the
message limit can make it backtrack for long."""

from __future__ import annotations

import itertools

import pytest

from chat_server.domain.contact_filter import (
    HIDDEN,
    ContactFilter,
    FilteredText,
    FilterMode,
    find_contact_details,
)
from chat_server.domain.errors import FieldError, InvalidInput
from chat_server.domain.model import MAX_TEXT_CHARS

MASK = ContactFilter(FilterMode.MASK)
BLOCK = ContactFilter(FilterMode.BLOCK)
H = HIDDEN

# (text, the masked text when the case checks it exactly, else None)
CONTACT_DETAILS = [
    # phones, international and national formats
    pytest.param("+44 20 7946 0958", H, id="uk-international"),
    pytest.param("call me at (555) 123-4567 today", f"call me at {H} today", id="us-brackets"),
    pytest.param("555.123.4567", H, id="us-dots"),
    pytest.param("0049 30 1234567", H, id="german-00-prefix"),
    pytest.param("+1-800-555-0199", H, id="us-toll-free-dashes"),
    pytest.param("07700 900123", H, id="uk-mobile-national"),
    pytest.param("555 1234 567", H, id="spaced-groups"),
    pytest.param("+33 6 12 34 56 78", H, id="french-pairs"),
    pytest.param("whatsapp me on +91 98765 43210", f"whatsapp me on {H}", id="whatsapp-india"),
    pytest.param("my cell is 5551234567, text me", f"my cell is {H}, text me", id="ten-digits-in-a-row"),
    pytest.param("5 5 5 1 2 3 4", H, id="single-digits-spaced"),
    pytest.param("555-1234", H, id="seven-digits-local"),
    pytest.param("06.12.34.56.78", H, id="pairs-with-dots-not-a-date"),
    pytest.param("8 (912) 345-67-89", H, id="russian-format"),
    pytest.param("+49 (0) 30 1234 5678", H, id="trunk-zero-in-brackets"),
    pytest.param("tel: +7 912 345 67 89", f"tel: {H}", id="tel-label"),
    pytest.param("tel-5551234567", f"tel-{H}", id="phone-word-glued-by-dash"),
    pytest.param("my number is 07700900123", f"my number is {H}", id="number-is-no-excuse"),
    pytest.param("+91-98765-43210", H, id="plus-and-dashes"),
    pytest.param("555_123_4567", H, id="underscores"),
    pytest.param("pay $ 07700 900123", f"pay $ {H}", id="currency-sign-before-spaced-phone"),
    pytest.param("(555) 123 4567 or later", f"{H} or later", id="bracket-kept-with-the-run"),
    # obfuscations
    pytest.param("five five five one two three four", H, id="digit-words"),
    pytest.param("zero seven seven zero zero nine zero zero one two three", H, id="digit-words-long"),
    pytest.param("call Five Five Five One Two Three Four", f"call {H}", id="digit-words-capitalised"),
    pytest.param("5five5 12three4", H, id="digits-and-words-mixed"),
    pytest.param("5-5-5 1-2-3-4", H, id="dashes-between-every-digit"),
    pytest.param("O7700 9OO123", H, id="letter-o-for-zero"),
    pytest.param("nine eight seven 6543210", H, id="words-then-digits"),
    pytest.param("0 7 7 0 0 - 9 0 0 1 2 3", H, id="spaced-digits-and-dash"),
    # digits of other scripts
    pytest.param("\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660", H,
                 id="arabic-indic-digits"),
    pytest.param("\uff10\uff17\uff17\uff10\uff10 \uff19\uff10\uff10\uff11\uff12\uff13", H,
                 id="fullwidth-digits"),
    pytest.param("\u7535\u8bdd13812345678", "\u7535\u8bdd" + H, id="chinese-text-glued"),
    # e-mail addresses
    pytest.param("john@gmail.com", H, id="email-plain"),
    pytest.param("write to john.doe+shop@mail.example.co.uk please", f"write to {H} please",
                 id="email-subaddress-and-sld"),
    pytest.param("john @ gmail . com", H, id="email-spaces"),
    pytest.param("john at gmail dot com", H, id="email-at-dot-words"),
    pytest.param("john(at)gmail(dot)com", H, id="email-brackets"),
    pytest.param("john [at] gmail [dot] com", H, id="email-square-brackets"),
    pytest.param("JOHN AT GMAIL DOT COM", H, id="email-upper-case"),
    pytest.param("john {at} yahoo {dot} fr", H, id="email-braces"),
    pytest.param("sales at example.com", f"sales at {H}", id="email-spelled-at-literal-dot"),
    pytest.param("mail: info@shop.de.", f"mail: {H}.", id="email-full-stop-after"),
    pytest.param("jane_doe99@outlook.com or call", f"{H} or call", id="email-underscore-digits"),
    # links
    pytest.param("https://evil.example/x", H, id="https-any-host"),
    pytest.param("see http://example.org/path?q=1.", f"see {H}.", id="http-with-query"),
    pytest.param("www.x.y", H, id="www-host-any-tld"),
    pytest.param("cheaper on www.myshop.co.uk/item/5", f"cheaper on {H}", id="www-with-path"),
    pytest.param("see example.com", f"see {H}", id="bare-domain"),
    pytest.param("buy at shop.co.uk now", f"buy at {H} now", id="bare-domain-sld"),
    pytest.param("join t.me/shopguy", f"join {H}", id="telegram-link"),
    pytest.param("wa.me/447700900123", H, id="whatsapp-link"),
    pytest.param("bit.ly/abc123", H, id="short-link"),
    pytest.param("linktr.ee/seller", H, id="short-link-host-list"),
    pytest.param("cheaper on amazon.de!", f"cheaper on {H}!", id="country-tld"),
    pytest.param("Visit Example.COM today", f"Visit {H} today", id="domain-upper-case"),
    pytest.param("ftp://files.example.net/a", H, id="other-scheme"),
    pytest.param("tg://resolve?domain=shopguy", H, id="app-scheme"),
    pytest.param("(see mysite.io)", f"(see {H})", id="link-in-brackets"),
    pytest.param("instagram.com/shopguy", H, id="social-profile"),
    pytest.param("my shop: shop-online.store", f"my shop: {H}", id="new-gtld"),
    pytest.param("visit myshop(dot)com", f"visit {H}", id="link-bracketed-dot-word"),
    pytest.param("evil[.]com/x.", f"{H}.", id="link-bracketed-dot"),
    pytest.param("www dot myshop dot com", H, id="link-www-and-dot-words"),
    # several in one text
    pytest.param("call +44 20 7946 0958 or mail john@gmail.com", f"call {H} or mail {H}",
                 id="phone-and-email"),
]

ORDINARY_TEXTS = [
    # prices
    pytest.param("$1,299.99", id="price-dollars"),
    pytest.param("1 299,00 €", id="price-euro-after"),
    pytest.param("€ 12.345,67", id="price-euro-before"),
    pytest.param("USD 2500", id="price-code"),
    pytest.param("Can you do 1 299 000,00 € for the lot?", id="price-millions-euro"),
    pytest.param("it is 12 345 678 \u0440\u0443\u0431", id="price-roubles"),
    pytest.param("price: 2.500.000 EUR", id="price-dotted-thousands-code"),
    pytest.param("the total is 1.234.567,89", id="amount-with-decimals"),
    pytest.param("it costs 12 500 000 \u20bd", id="price-rouble-sign"),
    pytest.param("Price 1 250 000 UZS?", id="price-other-currency-code"),
    # order, invoice, tracking and product numbers
    pytest.param("order #12345678", id="order-hash"),
    pytest.param("order no. 100234567", id="order-no"),
    pytest.param("my order number is 12345678", id="order-number-is"),
    pytest.param("my order id is 987654321", id="order-id-is"),
    pytest.param("invoice INV-2026-000123", id="invoice-code"),
    pytest.param("tracking 1Z999AA10123456784", id="tracking-ups"),
    pytest.param("tracking number: 9400 1000 0000 0000 0000 00", id="tracking-usps-spaced"),
    pytest.param("SKU AB12-3456789", id="sku-alphanumeric"),
    pytest.param("ref: 20261234567", id="reference"),
    pytest.param("part no. 4711-0815-42", id="part-number"),
    pytest.param("ISBN 978-3-16-148410-0", id="isbn"),
    pytest.param("EAN 4006381333931", id="ean"),
    pytest.param("Ticket #100200300", id="ticket-hash"),
    pytest.param("Model XJ-9000-BLK", id="model-code"),
    # dates and times
    pytest.param("2026-12-01", id="iso-date"),
    pytest.param("01/12/2026 10:30", id="date-and-time"),
    pytest.param("delivery 01.12.2026-05.12.2026", id="date-range"),
    pytest.param("10:30-11:45", id="time-range"),
    pytest.param("open 10.30-11.45", id="dotted-time-range"),
    pytest.param("1990-2020", id="year-range"),
    pytest.param("20261201", id="compact-date"),
    pytest.param("between 1990 and 2020", id="years-in-words"),
    # sizes and quantities
    pytest.param("120x60x75 cm", id="dimensions"),
    pytest.param("3 x 250 ml", id="pack"),
    pytest.param("size 42", id="size"),
    pytest.param("1000 pcs", id="pieces"),
    pytest.param("10 000 000 pcs", id="pieces-millions"),
    pytest.param("we have 2 500 000 views", id="views"),
    pytest.param("approx. 1.5 kg", id="weight"),
    pytest.param("Is it available in sizes 38, 40, 42 and 44?", id="size-list"),
    pytest.param("We sold 1,000,000 units", id="comma-thousands"),
    # versions, decimals, percentages
    pytest.param("v1.2.3", id="version"),
    pytest.param("version 10.0.19045.2965", id="version-long"),
    pytest.param("3.14159265", id="decimal"),
    pytest.param("12.5%", id="percentage"),
    pytest.param("99.99999%", id="percentage-long"),
    # words that look like parts of an address
    pytest.param("see you at noon", id="at-in-a-sentence"),
    pytest.param("the dot pattern", id="dot-in-a-sentence"),
    pytest.param("the dot com bubble", id="dot-com-in-a-sentence"),
    pytest.param("polka dot co-ords, dotted lines", id="dot-and-a-tld-word"),
    pytest.param("look at the dot on the map.", id="at-and-dot"),
    pytest.param("I'm at home now. Call later?", id="at-before-full-stop"),
    pytest.param("e.g. this, i.e. that, etc.", id="abbreviations"),
    pytest.param("a.m. or p.m.?", id="am-pm"),
    pytest.param("Yes.It works", id="missing-space-word-tld"),
    pytest.param("Ok.Me too", id="missing-space-me"),
    pytest.param("photo.jpg and scan.pdf", id="file-names"),
    # ordinary chat
    pytest.param("Hi! Is this still available?", id="question"),
    pytest.param("Thanks, see you at 5 \U0001f44d", id="emoji"),
    pytest.param("Shipping takes 3-5 days", id="day-range"),
    pytest.param("Call me when it ships", id="call-without-number"),
    pytest.param("we're open 9-17, Mon-Fri", id="opening-hours"),
    pytest.param("Someone said the phone case is 20% off, is it one of those?", id="words-holding-one"),
]


@pytest.mark.parametrize(("text", "masked"), CONTACT_DETAILS)
def test_contact_details_are_hidden_in_mask_mode(text: str, masked: str | None):
    result = MASK.apply(text)
    assert result.masked and HIDDEN in result.text
    if masked is not None:
        assert result.text == masked


@pytest.mark.parametrize(("text", "masked"), CONTACT_DETAILS)
def test_contact_details_are_refused_in_block_mode(text: str, masked: str | None):
    with pytest.raises(InvalidInput) as refused:
        BLOCK.apply(text)
    assert refused.value.errors == [FieldError("text", "contact details are not allowed")]


@pytest.mark.parametrize("text", ORDINARY_TEXTS)
def test_ordinary_texts_are_left_alone_in_mask_mode(text: str):
    assert MASK.apply(text) == FilteredText(text, False)


@pytest.mark.parametrize("text", ORDINARY_TEXTS)
def test_ordinary_texts_are_accepted_in_block_mode(text: str):
    assert BLOCK.apply(text) == FilteredText(text, False)


def test_the_corpus_is_large_enough():
    assert len(CONTACT_DETAILS) >= 50 and len(ORDINARY_TEXTS) >= 50


def test_off_mode_returns_the_text_itself_even_with_contact_details():
    text = "call +44 20 7946 0958 or mail john@gmail.com"
    result = ContactFilter().apply(text)
    assert result.text is text and not result.masked
    assert ContactFilter().mode is FilterMode.OFF


def test_masking_keeps_the_text_around_each_detail():
    text = "Hi! Call +44 20 7946 0958, or see t.me/shop. Thanks \U0001f600"
    assert MASK.apply(text).text == f"Hi! Call {H}, or see {H}. Thanks \U0001f600"
    phone, link = text.index("+44"), text.index("t.me")
    assert find_contact_details(text) == [(phone, phone + 16), (link, link + len("t.me/shop"))]


ALLOWED = ContactFilter(FilterMode.MASK, frozenset({"shop.com"}))


@pytest.mark.parametrize("text", [
    pytest.param("https://shop.com/p/12345678", id="link-with-digits-in-path"),
    pytest.param("see www.shop.com", id="www"),
    pytest.param("https://m.shop.com/p/1?ref=chat", id="subdomain"),
    pytest.param("shop.com/p/1", id="bare"),
    pytest.param("write to help@shop.com", id="email"),
    pytest.param("help at support.shop.com", id="spelled-email-subdomain"),
    pytest.param("help [at] shop [dot] com", id="obfuscated-email"),
])
def test_allowed_domains_and_their_subdomains_are_left_alone(text: str):
    assert ALLOWED.apply(text) == FilteredText(text, False)


@pytest.mark.parametrize(("text", "masked"), [
    pytest.param("evilshop.com", H, id="same-suffix-other-domain"),
    pytest.param("shop.com.evil.io/x", H, id="allowed-name-as-subdomain"),
    pytest.param("https://evil.io/?r=shop.com", H, id="allowed-name-in-query"),
    pytest.param("help@gmail.com", H, id="other-email"),
    pytest.param("see shop.com/p/1 or call 07700 900123", f"see shop.com/p/1 or call {H}",
                 id="allowed-link-and-phone"),
    pytest.param("5551234567@shop.com", f"{H}@shop.com", id="phone-as-local-part-of-allowed-email"),
])
def test_other_domains_are_still_hidden_next_to_allowed_ones(text: str, masked: str):
    assert ALLOWED.apply(text) == FilteredText(masked, True)


def test_allowed_domains_are_normalised():
    assert ContactFilter(FilterMode.MASK, {" Shop.COM. ", ""}).allowed_domains == {"shop.com"}
    with pytest.raises(InvalidInput):
        BLOCK.apply("https://shop.com/x")
    allowed = ContactFilter(FilterMode.BLOCK, frozenset({"shop.com"}))
    assert allowed.apply("https://shop.com/x") == FilteredText("https://shop.com/x", False)


@pytest.mark.parametrize("text", [
    pytest.param("\u041f\u0440\u0438\u0432\u0435\u0442! \u042d\u0442\u043e \u0432\u0441\u0451 "
                 "\u0435\u0449\u0451 \u0432 \u043f\u0440\u043e\u0434\u0430\u0436\u0435? \U0001f600",
                 id="russian-emoji"),
    pytest.param("\u4f60\u597d\uff0c\u8fd9\u4e2a\u8fd8\u6709\u8d27\u5417\uff1f", id="chinese"),
    pytest.param("\u0645\u0631\u062d\u0628\u0627\u060c \u0647\u0644 \u0647\u0630\u0627 "
                 "\u0645\u062a\u0648\u0641\u0631\u061f", id="arabic"),
    pytest.param("\u0928\u092e\u0938\u094d\u0924\u0947, \u0915\u094d\u092f\u093e \u092f\u0939 "
                 "\u0909\u092a\u0932\u092c\u094d\u0927 \u0939\u0948?", id="hindi"),
    pytest.param("\u3053\u3093\u306b\u3061\u306f\u3002\u5728\u5eab\u306f\u3042\u308a\u307e\u3059"
                 "\u304b\uff1f", id="japanese"),
    pytest.param("\u0393\u03b5\u03b9\u03b1 \u03c3\u03bf\u03c5! \u03a0\u03cc\u03c3\u03bf "
                 "\u03ba\u03bf\u03c3\u03c4\u03af\u03b6\u03b5\u03b9;", id="greek"),
    pytest.param("\U0001f44d\U0001f3fd\u2764\ufe0f\U0001f468\u200d\U0001f469\u200d\U0001f467 "
                 "\U0001f1e9\U0001f1ea", id="emoji-sequences"),
    pytest.param("\u0130stanbul'a kargo var m\u0131?", id="turkish-dotted-capital-i"),
])
def test_text_in_other_scripts_is_left_alone(text: str):
    assert MASK.apply(text) == FilteredText(text, False)


def test_spans_stay_right_after_a_letter_that_lower_cases_to_two_characters():
    # "İ".lower() is two characters long: the spans must still index the original text.
    text = "\u0130\u0130\u0130 call 07700 900123 \u0130"
    assert MASK.apply(text).text == f"\u0130\u0130\u0130 call {H} \u0130"


def test_a_text_of_the_message_limit_is_filtered_whole():
    text = ("Is it still available? " * 300)[:MAX_TEXT_CHARS - 20] + " call 07700 900123"
    assert MASK.apply(text).text.endswith(f" call {H}")


N = MAX_TEXT_CHARS


def _repeat(unit: str) -> str:
    return (unit * (N // len(unit) + 1))[:N]


# Inputs shaped against each pattern: long runs of what a pattern consumes, ended by what
# makes it fail, so that a pattern able to backtrack would take quadratic or worse time.
ADVERSARIAL = {
    "digits": "1" * N,
    "digits-then-letter": "1" * (N - 1) + "x",
    "digit-space": _repeat("1 "),
    "digit-dot": _repeat("1."),
    "digit-space-dot": _repeat("1 ."),
    "six-digit-clusters": _repeat("1 2 3 4 5 6 . - "),
    "digit-dash": _repeat("1-"),
    "digit-letter": _repeat("1x"),
    "o-digit": _repeat("O7"),
    "o-letters": "o" * N,
    "digit-words": _repeat("five "),
    "digit-words-glued": _repeat("five"),
    "digit-words-then-letter": "five" * (N // 4 - 1) + "fivx",
    "separators": _repeat(" - ( ) / . "),
    "brackets-and-plus": _repeat("(+"),
    "dates": _repeat("2026-12-01 "),
    "prices": _repeat("$1 299 "),
    "thousands": _repeat("1 000 "),
    "order-numbers": _repeat("order 1234567 "),
    "dots": "." * N,
    "letter-dot": _repeat("a."),
    "domains": _repeat("a.com "),
    "one-long-label": "a" * (N - 4) + ".com",
    "long-labels": _repeat("a" * 300 + "."),
    "at-signs": _repeat("a@"),
    "at-domain-no-tld": _repeat("a@b."),
    "spaces-then-at": "a" + " " * (N - 7) + "@b.com",
    "long-local-part": _repeat("a.")[:N - 6] + "@b.com",
    "spelled-at": _repeat("a at "),
    "spelled-at-dot": _repeat("a at b dot "),
    "spelled-dot": _repeat("a dot "),
    "bracket-at": _repeat("(at)"),
    "bracket-dot": _repeat("a(dot)"),
    "www-dot": _repeat("www dot "),
    "schemes": _repeat("http://"),
    "www": _repeat("www."),
    "commas": _repeat("1,"),
    "currency-signs": _repeat("\u20ac "),
    "mixed": "".join("0123456789 .-()+oa@:/"[(i * 7919) % 21] for i in range(N)),
}


@pytest.mark.parametrize("text", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_adversarial_texts_of_the_message_limit_complete(text: str):
    # No time is asserted: a pattern that backtracks catastrophically on one of these
    # would not finish within the suite's timeout. The results must still be consistent.
    assert len(text) == N
    masked = MASK.apply(text)
    spans = find_contact_details(text)
    assert masked.masked == bool(spans)
    assert all(a < b < c for (a, b), (c, _) in itertools.pairwise(spans))
    assert masked.text.count(HIDDEN) == len(spans)
