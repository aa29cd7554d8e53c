"""Measures the contact-detail filter's ``apply`` in µs per message and prints a table.

Sets: (a) typical chat texts without contact details (short questions, prices, order
numbers, sizes, dates), (b) texts with contact details, (c) 5,000-character texts (the
message limit) of ordinary prose with numbers, and the same typical texts in OFF mode.
Each figure is the best of ``--repeat`` timed passes over the whole set, in CPU time of
this process (``time.process_time``: a shared machine that deschedules the process does
not count), divided by the number of texts.

    python benchmarks/contact_filter_bench.py [--repeat 60] [--passes 20]
"""

from __future__ import annotations

import argparse
import time
import timeit

from chat_server.domain.contact_filter import ContactFilter, FilterMode

TYPICAL = [
    "Hi! Is this still available?",
    "Can you do $1,299.99 if I buy two?",
    "My order #12345678 hasn't arrived yet",
    "What size is it? I usually wear 42",
    "Thanks, see you at noon then 👍",
    "Does it come in blue or only in black?",
    "Shipping to Berlin takes 3-5 days, right?",
    "The dimensions are 120x60x75 cm, is that correct?",
    "I paid 1 299,00 € yesterday, order no. 100234567",
    "Can you send it before 2026-12-01?",
    "ok",
    "Great, thank you so much! I'll leave a review.",
    "Is the price negotiable? I can offer USD 2500 for both",
    "Tracking 1Z999AA10123456784 says it is still in Leipzig",
    "Hello, I would like to know if the product is original and if it has a warranty. "
    "Also, can you ship it tomorrow morning?",
    "Я хотел бы купить это, доставка в Москву возможна?",
    "Sorry, I meant the 3 x 250 ml pack, not the 1000 pcs one",
    "Can we meet at 10:30-11:45 on Friday to pick it up?",
    "Someone said the phone case is 20% off today, is it?",
    "Version v1.2.3 of the firmware, e.g. the latest one?",
]

WITH_CONTACTS = [
    "Call me on +44 20 7946 0958",
    "whatsapp me on +91 98765 43210 please",
    "my email is john.doe@gmail.com",
    "write to john at gmail dot com",
    "cheaper on www.myshop.co.uk/item/5",
    "text me: five five five one two three four",
    "join t.me/dealsguy for discounts",
    "my number (555) 123-4567, call after 6",
    "O7700 9OO123 is my cell",
    "see https://example.org/p?id=1 for the same thing",
]

_PROSE = (
    "Hello, thanks for the quick answer. The table is 120x60x75 cm and weighs 32 kg; it "
    "costs $1,299.99 including shipping, which usually takes 3-5 days. My previous order "
    "#12345678 arrived on 2026-11-20 at 10:30, e.g. two days late. See you at noon. "
)
LONG = {
    "prose with prices, dates, order numbers": (_PROSE * (5000 // len(_PROSE) + 1))[:5000],
    "prose without digits": ("No digits here, just a friendly message about the product. " * 90)[:5000],
    "digits, spaces and dots, no phone": ("1 2 3 4 5 6 . - " * 400)[:5000],
}


def per_message_us(apply: object, texts: list[str], repeat: int, passes: int) -> float:
    assert callable(apply)

    def run() -> None:
        for text in texts:
            apply(text)

    best = min(timeit.repeat(run, number=passes, repeat=repeat, timer=time.process_time))
    return best / passes / len(texts) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Many short timings: on a shared machine the best of them is the least disturbed.
    parser.add_argument("--repeat", type=int, default=60)
    parser.add_argument("--passes", type=int, default=20)
    args = parser.parse_args()
    mask = ContactFilter(FilterMode.MASK, frozenset({"shop.example"}))
    off = ContactFilter(FilterMode.OFF)
    assert not any(mask.apply(t).masked for t in TYPICAL), "a typical text was masked"
    assert all(mask.apply(t).masked for t in WITH_CONTACTS), "a contact detail was missed"
    assert not any(mask.apply(t).masked for t in LONG.values()), "a long text was masked"
    rows = [
        ("mask, typical texts without contact details", mask.apply, TYPICAL, args.passes),
        ("mask, texts with contact details", mask.apply, WITH_CONTACTS, args.passes),
        *((f"mask, 5,000 characters: {name}", mask.apply, [text], max(1, args.passes // 10))
          for name, text in LONG.items()),
        ("off, typical texts", off.apply, TYPICAL, args.passes),
    ]
    calibration = min(timeit.repeat("sum(range(1000))", number=1000, repeat=args.repeat,
                                    timer=time.process_time)) / 1000 * 1e6
    print(f"this machine: sum(range(1000)) takes {calibration:.1f} µs of CPU\n")
    print(f"| {'set':62} | texts | µs per message |")
    print(f"|{'-' * 64}|-------|----------------|")
    for name, apply, texts, passes in rows:
        us = per_message_us(apply, texts, args.repeat, passes)
        print(f"| {name:62} | {len(texts):5} | {us:14.2f} |")


if __name__ == "__main__":
    main()
