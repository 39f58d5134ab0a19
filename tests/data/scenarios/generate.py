#!/usr/bin/env python3
"""Deterministic traffic scenarios for `otp-guard replay`.

Writes one JSONL file per scenario in the replay format of the design
("Backtesting: otp-guard replay"), a parallel `<name>.labels` file (one line
per event, `attack` or `legit`), and `expected.json` with the ground truth a
test can assert loosely.

    python3 tests/data/scenarios/generate.py [--out DIR] [--scale X]

Every phone number is checked with `otp-guard phone` (the product's own
parser and metadata) while it is generated: candidates come from per-country
patterns and only valid numbers of the wanted type are kept. Build the binary
first if it is missing: `cd /work/main && cargo build --release`.

Python 3.11 standard library only. The same seed and scale give byte-identical
files.
"""

from __future__ import annotations

import argparse
import bisect
import ipaddress
import json
import os
import random
import subprocess
import sys
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone

SEED = 20260110
DAY0 = datetime(2026, 1, 10, tzinfo=timezone.utc)
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
DEFAULT_BIN = os.path.join(REPO, "target", "release", "otp-guard")

SMS_TYPES = {"mobile", "fixed_line_or_mobile"}

# ---------------------------------------------------------------------------
# Phone numbers: calling codes and candidate patterns (national significant
# number = lead digits + random digits up to the given length). The patterns
# are deliberately a little wider than the real ranges; the validator keeps
# only what libphonenumber accepts with the wanted type.
# ---------------------------------------------------------------------------

CC = {
    "US": "1", "CA": "1", "GB": "44", "FR": "33", "DE": "49", "BR": "55", "IN": "91",
    "MX": "52", "IT": "39", "NL": "31", "PT": "351", "PL": "48", "SE": "46", "BE": "32",
    "CH": "41", "AT": "43", "IE": "353", "AU": "61", "JP": "81", "NG": "234", "ZA": "27",
    "EG": "20", "TR": "90", "ID": "62", "PH": "63", "AR": "54", "CO": "57", "KE": "254",
    "PK": "92", "RO": "40", "MA": "212", "AE": "971", "LV": "371", "ES": "34",
    "CG": "242", "KG": "996", "LT": "370", "CU": "53", "SL": "232", "GN": "224",
    "SO": "252", "ST": "239", "TN": "216",
    # High-cost destinations outside the app's market (slow-spread-abroad).
    "TJ": "992", "UZ": "998", "AZ": "994", "BY": "375", "GE": "995", "AM": "374",
    "MN": "976", "LK": "94", "NP": "977", "CM": "237", "CD": "243", "AO": "244",
    "GA": "241", "ML": "223", "TD": "235", "LR": "231", "KH": "855", "TL": "670",
    "PG": "675",
}

US_AREAS = ("201 202 203 205 206 208 210 212 213 214 215 216 224 225 248 253 267 281 301 "
            "303 305 310 312 313 314 317 323 336 347 352 385 404 407 408 412 414 415 425 "
            "469 470 480 502 503 504 510 512 513 516 551 602 614 615 617 619 626 646 651 "
            "678 702 704 713 714 718 720 732 747 754 763 773 786 801 813 818 832 847 857 "
            "858 901 904 909 917 919 929 949 954 972 980").split()
CA_AREAS = "204 236 250 289 343 403 416 437 438 450 514 519 587 604 613 647 705 778 780 905".split()
BR_AREAS = "11 12 13 15 19 21 24 27 31 41 43 47 48 51 54 61 62 65 67 71 79 81 82 83 84 85 91 92 98".split()


def _nanp(areas):
    return [(a + d, 10) for a in areas for d in "23456789"]


MOBILE = {
    "US": _nanp(US_AREAS),
    "CA": _nanp(CA_AREAS),
    "GB": [(p, 10) for p in ("740", "741", "742", "743", "744", "745", "746", "747", "748", "749",
                             "750", "751", "752", "753", "754", "756", "757", "758", "759", "770",
                             "771", "772", "773", "774", "775", "776", "777", "778", "779", "780",
                             "781", "782", "784", "785", "786", "787", "788", "789", "790", "792",
                             "793", "794", "795", "796", "797", "798", "799")],
    "FR": [(p, 9) for p in ("60", "61", "62", "63", "64", "65", "66", "67", "68", "69",
                            "73", "74", "75", "76", "77", "78", "79")],
    "DE": [(p, 11) for p in ("151", "152", "155", "157", "159", "160", "162", "163", "170", "171",
                             "172", "173", "174", "175", "176", "177", "178", "179")]
          + [(p, 10) for p in ("160", "170", "171", "172", "173", "174", "175")],
    "BR": [(a + "9", 11) for a in BR_AREAS],
    "IN": [(p, 10) for p in ("62", "63", "70", "73", "74", "75", "76", "77", "78", "79", "80",
                             "81", "82", "83", "84", "85", "86", "87", "88", "89", "90", "91",
                             "93", "94", "95", "96", "97", "98", "99")],
    "MX": [(p, 10) for p in ("55", "56", "33", "81", "222", "228", "442", "477", "614", "664",
                             "686", "722", "744", "998")],
    "IT": [(p, 10) for p in ("320", "324", "327", "328", "329", "333", "334", "335", "338", "339",
                             "340", "342", "345", "347", "348", "349", "351", "366", "370", "371",
                             "380", "388", "389", "391", "392", "393")],
    "NL": [("6" + d, 9) for d in "123458"],      # 06-6 is the pager range
    "PT": [(p, 9) for p in ("91", "92", "93", "96")],
    "PL": [(p, 9) for p in ("50", "51", "53", "57", "60", "66", "69", "72", "73", "78", "79", "88")],
    "SE": [(p, 9) for p in ("70", "72", "73", "76", "79")],
    "BE": [("4" + d, 9) for d in "56789"],
    "CH": [(p, 9) for p in ("75", "76", "77", "78", "79")],
    "AT": [(p, 10) for p in ("650", "660", "664", "676", "677", "681", "688", "699")],
    "IE": [(p, 9) for p in ("83", "85", "86", "87", "89")],
    "AU": [(p, 9) for p in ("40", "41", "42", "43", "44", "45", "46", "47", "48", "49")],
    "JP": [(p, 10) for p in ("70", "80", "90")],
    "NG": [(p, 10) for p in ("703", "706", "803", "806", "810", "813", "814", "816", "903",
                             "906", "802", "808", "812", "701", "902", "805", "807", "815")],
    "ZA": [(p, 9) for p in ("60", "61", "62", "63", "71", "72", "73", "74", "76", "78", "79",
                            "81", "82", "83", "84")],
    "EG": [(p, 10) for p in ("10", "11", "12", "15")],
    "TR": [(p, 10) for p in ("50", "53", "54", "55")],
    "ID": [(p, 11) for p in ("811", "812", "813", "821", "822", "852", "853", "857", "858",
                             "878", "877", "895", "896", "897", "898")]
          + [(p, 10) for p in ("811", "812", "813", "821", "852", "857")],
    "PH": [(p, 10) for p in ("905", "906", "915", "916", "917", "918", "919", "920", "921",
                             "927", "928", "929", "939", "945", "947", "951", "966", "977",
                             "995", "998")],
    "AR": [("911", 11)],
    "CO": [(p, 10) for p in ("300", "301", "302", "304", "310", "311", "312", "313", "314",
                             "315", "316", "317", "318", "320", "321", "350")],
    "KE": [(p, 9) for p in ("70", "71", "72", "74", "79", "110", "111")],
    "PK": [(p, 10) for p in ("30", "31", "32", "33", "34")],
    "RO": [(p, 9) for p in ("72", "73", "74", "75", "76", "77", "78")],
    "MA": [(p, 9) for p in ("61", "62", "65", "66", "67", "70", "76")],
    "AE": [(p, 9) for p in ("50", "52", "54", "55", "56", "58")],
    "LV": [(p, 8) for p in ("20", "22", "24", "25", "26", "27", "28", "29")],
    "ES": [(p, 9) for p in ("60", "61", "62", "63", "64", "65", "66", "67", "68", "69",
                            "71", "72", "73", "74")],
    "CG": [(p, 9) for p in ("04", "05", "06")],
    "KG": [(p, 9) for p in ("70", "77", "55", "50", "22")],
    "CU": [("5", 8)],
    "SL": [(p, 8) for p in ("25", "30", "33", "76", "77", "78", "88", "99")],
    "GN": [(p, 9) for p in ("60", "62", "65", "66")],
    "SO": [(p, 9) for p in ("61", "62", "63", "68", "90")],
    "TJ": [(p, 9) for p in ("90", "91", "92", "93", "98")],
    "UZ": [(p, 9) for p in ("90", "91", "93", "94", "97", "99")],
    "AZ": [(p, 9) for p in ("50", "51", "55", "70", "77")],
    "BY": [(p, 9) for p in ("25", "29", "33", "44")],
    "GE": [(p, 9) for p in ("555", "557", "558", "568", "571", "574", "577", "579", "591", "592",
                            "593", "595", "597", "598", "599")],
    "AM": [(p, 8) for p in ("77", "93", "94", "98", "99", "91", "55", "95", "96")],
    "MN": [(p, 8) for p in ("88", "99", "95", "94", "80", "85", "86")],
    "LK": [(p, 9) for p in ("70", "71", "72", "75", "76", "77", "78")],
    "NP": [(p, 10) for p in ("980", "981", "982", "984", "985", "986")],
    "CM": [(p, 9) for p in ("65", "67", "68", "69")],
    "CD": [(p, 9) for p in ("81", "82", "84", "85", "89", "97", "99")],
    "AO": [(p, 9) for p in ("91", "92", "93", "94", "95", "99")],
    "GA": [(p, 8) for p in ("62", "65", "66", "74", "77")],
    "ML": [(p, 8) for p in ("66", "76", "79", "90")],
    "TD": [(p, 8) for p in ("63", "66", "77", "99")],
    "LR": [(p, 9) for p in ("77", "88")],
    "KH": [(p, 8) for p in ("12", "17", "77", "78", "89", "92", "95", "99")],
    "TL": [(p, 8) for p in ("77", "78")],
    "PG": [(p, 8) for p in ("70", "71", "72", "73", "74", "75", "76", "77", "78", "79")],
}

FIXED = {
    "CU": [(p, 8) for p in ("72", "73", "76", "78")],
    "SL": [(p, 8) for p in ("222", "223", "224")],
    "GN": [(p, 8) for p in ("3024", "3031", "3041", "3051")],
    "ST": [("22", 7)],
}

PREMIUM = {
    "GB": [(p, 10) for p in ("904", "906", "908", "909", "911")],
    "LV": [("90", 8)],
    "LT": [(p, 8) for p in ("900", "902", "909")],
    "AT": [(p, 9) for p in ("900", "930", "939")],
    "DE": [(p, 10) for p in ("9001", "9003", "9005")],
    "TN": [("88", 8)],
}

PATTERNS = {"mobile": MOBILE, "fixed": FIXED, "premium": PREMIUM}
ACCEPT = {"mobile": SMS_TYPES, "fixed": {"fixed_line"}, "premium": {"premium_rate"}}

# ---------------------------------------------------------------------------
# Networks. Residential ASNs per country with address blocks of the kind those
# networks announce (illustrative: the ASN <-> block mapping is plausible, not
# authoritative), optional IPv6 /32-ish prefixes, and hosting providers with the
# country each block geolocates to.
# ---------------------------------------------------------------------------

# country -> [(asn, weight, [ipv4 cidr...], ipv6 cidr or None, ipv6 share)]
RESIDENTIAL = {
    "US": [(7922, 30, ["73.0.0.0/8", "98.192.0.0/10", "24.0.0.0/12"], "2601::/20", 0.35),
           (20115, 16, ["71.80.0.0/13", "97.88.0.0/13", "47.144.0.0/13"], "2600:6c00::/24", 0.2),
           (7018, 15, ["99.0.0.0/10", "76.192.0.0/10", "107.192.0.0/10"], "2600:1700::/28", 0.3),
           (701, 10, ["71.160.0.0/11", "108.0.0.0/14"], "2600:4040::/28", 0.2),
           (21928, 17, ["172.56.0.0/13", "172.32.0.0/14"], "2607:fb90::/32", 0.7),
           (22394, 12, ["174.192.0.0/10"], "2600:1000::/28", 0.6)],
    "GB": [(2856, 32, ["86.128.0.0/10", "81.128.0.0/11", "109.144.0.0/12"], "2a00:23c0::/27", 0.4),
           (5089, 22, ["82.0.0.0/14", "86.0.0.0/13", "62.30.0.0/15"], None, 0),
           (5607, 16, ["90.192.0.0/11", "2.24.0.0/13"], "2a02:c7c::/32", 0.3),
           (12576, 18, ["31.94.0.0/15", "213.205.192.0/18"], None, 0),
           (25135, 12, ["148.252.0.0/16", "90.254.0.0/16"], None, 0)],
    "FR": [(3215, 40, ["90.0.0.0/9", "86.192.0.0/10", "2.0.0.0/12"], "2a01:cb00::/24", 0.45),
           (12322, 25, ["88.160.0.0/11", "78.192.0.0/10", "82.64.0.0/10"], "2a01:e00::/26", 0.6),
           (15557, 20, ["77.128.0.0/11", "93.0.0.0/13"], None, 0),
           (5410, 15, ["176.128.0.0/10"], "2001:861::/32", 0.3)],
    "DE": [(3320, 45, ["79.192.0.0/10", "87.128.0.0/10", "93.192.0.0/10", "217.80.0.0/12"],
            "2003::/19", 0.5),
           (3209, 25, ["88.64.0.0/12", "2.200.0.0/13"], "2a02:8100::/27", 0.4),
           (6805, 18, ["77.0.0.0/13", "82.113.96.0/19"], "2a02:3030::/32", 0.3),
           (8881, 12, ["89.244.0.0/14"], "2001:16b8::/32", 0.3)],
    "BR": [(28573, 35, ["177.0.0.0/11", "189.0.0.0/12", "201.0.0.0/12"], "2804:14c::/31", 0.3),
           (26599, 30, ["187.0.0.0/11", "189.96.0.0/12"], "2804:7f0::/30", 0.4),
           (26615, 20, ["177.32.0.0/12", "179.96.0.0/12"], "2804:18::/32", 0.3),
           (7738, 15, ["200.96.0.0/12", "187.96.0.0/12"], None, 0)],
    "IN": [(55836, 45, ["49.32.0.0/11", "157.32.0.0/11"], "2409:4000::/22", 0.6),
           (45609, 30, ["106.192.0.0/11", "223.176.0.0/12"], "2401:4900::/32", 0.4),
           (55410, 17, ["106.64.0.0/11", "42.104.0.0/13"], "2402:3a80::/27", 0.3),
           (9829, 8, ["117.192.0.0/10", "59.88.0.0/13"], None, 0)],
    "CA": [(812, 50, ["99.224.0.0/11", "174.112.0.0/12"], None, 0),
           (577, 50, ["70.48.0.0/13", "142.112.0.0/12"], "2607:fea8::/32", 0.3)],
    "MX": [(8151, 100, ["187.128.0.0/10", "189.128.0.0/10"], None, 0)],
    "IT": [(3269, 100, ["79.0.0.0/12", "87.0.0.0/12", "93.32.0.0/12"], None, 0)],
    "NL": [(1136, 55, ["77.160.0.0/12", "86.80.0.0/12"], "2a02:a400::/26", 0.4),
           (33915, 45, ["84.24.0.0/13", "77.248.0.0/13"], "2001:1c00::/24", 0.4)],
    "PT": [(3243, 100, ["85.240.0.0/13", "89.152.0.0/13"], None, 0)],
    "PL": [(5617, 100, ["83.0.0.0/11", "89.64.0.0/12"], None, 0)],
    "SE": [(3301, 100, ["78.64.0.0/12", "81.224.0.0/12"], None, 0)],
    "BE": [(5432, 100, ["81.240.0.0/12", "91.176.0.0/12"], None, 0)],
    "CH": [(3303, 100, ["85.0.0.0/13", "178.192.0.0/11"], "2a02:1200::/27", 0.3)],
    "AT": [(8447, 100, ["80.108.0.0/14", "91.112.0.0/14"], None, 0)],
    "IE": [(5466, 100, ["86.40.0.0/13", "109.76.0.0/14"], None, 0)],
    "AU": [(1221, 100, ["101.160.0.0/11", "120.144.0.0/12"], "2001:8003::/32", 0.3)],
    "JP": [(4713, 100, ["153.128.0.0/9", "60.32.0.0/11"], None, 0)],
    "NG": [(29465, 100, ["102.88.0.0/13", "197.210.0.0/16"], None, 0)],
    "ZA": [(29975, 100, ["41.0.0.0/11", "105.0.0.0/12"], None, 0)],
    "EG": [(8452, 100, ["41.32.0.0/12", "156.192.0.0/11"], None, 0)],
    "TR": [(9121, 100, ["78.160.0.0/11", "88.224.0.0/11"], None, 0)],
    "ID": [(7713, 55, ["36.64.0.0/11"], None, 0), (23693, 45, ["114.120.0.0/13", "182.0.0.0/12"], None, 0)],
    "PH": [(9299, 55, ["49.144.0.0/13", "112.198.0.0/15"], None, 0), (132199, 45, ["110.54.128.0/17"], None, 0)],
    "AR": [(7303, 100, ["181.0.0.0/12", "190.16.0.0/13"], None, 0)],
    "CO": [(10620, 100, ["181.48.0.0/12", "186.80.0.0/12"], None, 0)],
    "KE": [(33771, 100, ["105.160.0.0/12", "197.232.0.0/14"], None, 0)],
    "PK": [(17557, 100, ["39.32.0.0/11", "182.176.0.0/12"], None, 0)],
    "RO": [(8708, 100, ["86.120.0.0/13", "79.112.0.0/13"], None, 0)],
    "MA": [(6713, 100, ["105.128.0.0/11", "41.248.0.0/13"], None, 0)],
    "AE": [(5384, 100, ["94.200.0.0/13", "86.96.0.0/13"], None, 0)],
    "LV": [(5518, 60, ["83.99.128.0/17", "87.110.0.0/16"], None, 0), (12578, 40, ["62.85.0.0/17"], None, 0)],
    "ES": [(3352, 45, ["83.32.0.0/11", "88.0.0.0/11"], None, 0),
           (12479, 30, ["90.160.0.0/11", "81.32.0.0/12"], None, 0),
           (12430, 25, ["62.87.0.0/16", "77.208.0.0/13"], None, 0)],
    # Countries that appear only as residential-proxy exits.
    "VN": [(7552, 60, ["27.64.0.0/12", "171.224.0.0/11"], None, 0), (45899, 40, ["113.160.0.0/11"], None, 0)],
    "TH": [(7470, 100, ["171.96.0.0/12", "184.22.0.0/16"], None, 0)],
    "RU": [(12389, 60, ["95.24.0.0/13", "178.64.0.0/12"], None, 0), (8359, 40, ["46.138.0.0/15"], None, 0)],
    "UA": [(15895, 100, ["46.211.0.0/16", "94.153.0.0/16"], None, 0)],
    "BD": [(24389, 100, ["103.4.144.0/22", "37.111.192.0/18"], None, 0)],
}

# name -> (asn, [(ipv4 cidr, geolocated country)])
HOSTING = {
    "aws": (16509, [("3.80.0.0/12", "US"), ("54.160.0.0/12", "US"), ("54.72.0.0/14", "IE"),
                    ("18.184.0.0/15", "DE"), ("13.228.0.0/15", "SG"), ("18.228.0.0/16", "BR")]),
    "digitalocean": (14061, [("159.203.0.0/16", "US"), ("167.99.0.0/16", "US"), ("178.62.0.0/16", "NL"),
                             ("46.101.0.0/16", "DE"), ("139.59.0.0/16", "IN"), ("128.199.0.0/16", "SG"),
                             ("165.227.0.0/16", "GB")]),
    "ovh": (16276, [("51.75.0.0/16", "FR"), ("54.36.0.0/14", "FR"), ("51.222.0.0/16", "CA"),
                    ("147.135.0.0/16", "US"), ("145.239.0.0/16", "PL")]),
    "hetzner": (24940, [("95.216.0.0/15", "FI"), ("116.202.0.0/15", "DE"), ("88.99.0.0/16", "DE"),
                        ("65.108.0.0/15", "FI")]),
    "linode": (63949, [("45.79.0.0/16", "US"), ("139.162.0.0/16", "GB"), ("172.105.0.0/16", "JP")]),
    "vultr": (20473, [("45.32.0.0/16", "US"), ("149.28.0.0/16", "SG"), ("95.179.128.0/17", "NL"),
                      ("108.61.0.0/16", "US")]),
    "m247": (9009, [("146.70.0.0/16", "GB"), ("185.156.172.0/22", "RO"), ("89.187.160.0/19", "CZ")]),
    "contabo": (51167, [("173.212.192.0/18", "DE"), ("161.97.64.0/18", "DE")]),
    "gcp": (396982, [("34.64.0.0/10", "US"), ("35.184.0.0/13", "US")]),
    "azure": (8075, [("20.64.0.0/10", "US"), ("40.112.0.0/13", "NL")]),
    "alibaba": (45102, [("47.74.0.0/15", "SG"), ("47.88.0.0/14", "US")]),
    "tencent": (132203, [("43.128.0.0/12", "SG")]),
}

# ---------------------------------------------------------------------------
# The app's user base: share of legitimate traffic, UTC offset(s) in January,
# and single-send conversion (share of one-code sessions that get approved).
# ---------------------------------------------------------------------------

MAIN = [  # country, share, [(utc offset, weight)], conversion
    ("US", 0.28, [(-5, 0.5), (-6, 0.3), (-8, 0.2)], 0.86),
    ("IN", 0.16, [(5.5, 1)], 0.78),
    ("BR", 0.14, [(-3, 1)], 0.80),
    ("GB", 0.12, [(0, 1)], 0.87),
    ("FR", 0.09, [(1, 1)], 0.85),
    ("DE", 0.08, [(1, 1)], 0.86),
]
LONG_TAIL = [  # country, relative weight, utc offset
    ("CA", 1.6, -5), ("MX", 1.0, -6), ("IT", 1.0, 1), ("NL", 0.8, 1), ("PT", 0.7, 0),
    ("PL", 0.6, 1), ("SE", 0.5, 1), ("BE", 0.5, 1), ("CH", 0.5, 1), ("AT", 0.4, 1),
    ("IE", 0.6, 0), ("AU", 0.9, 11), ("JP", 0.4, 9), ("NG", 0.7, 1), ("ZA", 0.5, 2),
    ("EG", 0.4, 2), ("TR", 0.5, 3), ("ID", 0.6, 7), ("PH", 0.6, 8), ("AR", 0.5, -3),
    ("CO", 0.5, -5), ("KE", 0.3, 3), ("PK", 0.4, 5), ("RO", 0.4, 2), ("MA", 0.4, 1),
    ("AE", 0.5, 4), ("LV", 0.08, 2),
]
LONG_TAIL_SHARE = 0.13
TZ_OF = {c: tzs for c, _, tzs, _ in MAIN}
TZ_OF.update({c: [(tz, 1)] for c, _, tz in LONG_TAIL})
TZ_OF["ES"] = [(1, 1)]

# Relative OTP demand by local hour (value at the middle of the hour).
CURVE = [0.55, 0.33, 0.22, 0.17, 0.16, 0.22, 0.42, 0.75, 1.10, 1.35, 1.45, 1.50,
         1.55, 1.50, 1.45, 1.42, 1.45, 1.52, 1.62, 1.72, 1.75, 1.55, 1.22, 0.85]

P_RESEND = 0.045       # sessions asking for 2-3 codes, minutes apart
P_TRAVEL = 0.03        # legit user on a foreign network (hotel wifi, abroad)
P_VPN = 0.008          # legit user behind a consumer VPN on a hosting ASN
P_RETURN = 0.03        # a number seen earlier the same day logs in again


def curve_at(local_minute: float) -> float:
    h = (local_minute / 60.0 - 0.5) % 24
    i = int(h)
    f = h - i
    return CURVE[i] * (1 - f) + CURVE[(i + 1) % 24] * f


def ts_str(t: int) -> str:
    return (DAY0 + timedelta(seconds=t)).strftime("%Y-%m-%dT%H:%M:%SZ")


def hm(h: float) -> int:
    """Seconds since DAY0 00:00 UTC for an hour given as a float (14.5 = 14:30)."""
    return int(round(h * 3600))


# ---------------------------------------------------------------------------
# Validation through the product's own parser.
# ---------------------------------------------------------------------------

class Validator:
    def __init__(self, binary: str):
        self.binary = binary
        self.cache: dict[str, tuple[bool, str | None, str | None]] = {}
        self.calls = 0
        self.checked = 0

    def check(self, numbers) -> None:
        todo = sorted({n for n in numbers if n not in self.cache})
        if not todo:
            return
        out = subprocess.run([self.binary, "phone"], input="\n".join(todo) + "\n",
                             capture_output=True, text=True, check=True).stdout.splitlines()
        if len(out) != len(todo):
            raise SystemExit(f"otp-guard phone answered {len(out)} lines for {len(todo)} numbers")
        for n, line in zip(todo, out):
            r = json.loads(line)
            if r.get("input") != n:
                raise SystemExit(f"otp-guard phone answered out of order: {r.get('input')} for {n}")
            self.cache[n] = (bool(r["valid"]), r.get("type"), r.get("region"))
        self.calls += 1
        self.checked += len(todo)

    def type_of(self, n: str) -> str | None:
        self.check([n])
        valid, typ, _ = self.cache[n]
        return typ if valid else None

    def region_of(self, n: str) -> str | None:
        self.check([n])
        return self.cache[n][2]


class Numbers:
    """Unique, validated numbers per (country, kind), drawn deterministically."""

    def __init__(self, validator: Validator, seed: str):
        self.v = validator
        self.seed = seed
        self.used: set[str] = set()
        self.pools: dict[tuple[str, str], list[str]] = {}
        self.rngs: dict[tuple[str, str], random.Random] = {}
        self.drawn: Counter = Counter()
        self.tried: Counter = Counter()
        self.kept: Counter = Counter()

    def _rng(self, key):
        if key not in self.rngs:
            self.rngs[key] = random.Random(f"{self.seed}/numbers/{key[0]}/{key[1]}")
        return self.rngs[key]

    def _candidates(self, key, n):
        country, kind = key
        rng = self._rng(key)
        pats = PATTERNS[kind][country]
        out = []
        for _ in range(n):
            lead, length = rng.choice(pats)
            rest = "".join(rng.choice("0123456789") for _ in range(length - len(lead)))
            if country in ("US", "CA"):
                ex = lead[3:] + rest[:2]  # exchange: skip N11 and the 555 block
                if ex[1:] == "11" or ex == "555":
                    continue
            out.append(f"+{CC[country]}{lead}{rest}")
        return out

    def reserve(self, demand: dict) -> None:
        """Fill several pools with one validator call."""
        batches = {}
        for key, n in demand.items():
            have = len(self.pools.get(key, []))
            if n > have:
                batches[key] = self._candidates(key, int((n - have) * 1.5) + 64)
        self.v.check(c for cs in batches.values() for c in cs)
        for key, cs in batches.items():
            pool = self.pools.setdefault(key, [])
            for c in cs:
                self.tried[key] += 1
                if c in self.used:
                    continue
                typ = self.v.type_of(c)
                if typ in ACCEPT[key[1]]:
                    self.used.add(c)
                    pool.append(c)
                    self.kept[key] += 1
            pool.reverse()  # take() pops from the end: keep generation order

    def take(self, country: str, kind: str = "mobile") -> str:
        key = (country, kind)
        pool = self.pools.get(key)
        while not pool:
            self.reserve({key: max(256, self.drawn[key])})
            pool = self.pools[key]
        self.drawn[key] += 1
        return pool.pop()

    def block(self, country: str, nsn_prefix: str, width: int, kind: str = "mobile") -> list[str]:
        """Every valid number of one consecutive block, in order (for sequential attacks)."""
        cands = [f"+{CC[country]}{nsn_prefix}{i:0{width}d}" for i in range(10 ** width)]
        self.v.check(cands)
        out = [c for c in cands if self.v.type_of(c) in ACCEPT[kind]]
        self.used.update(out)
        return out


# ---------------------------------------------------------------------------
# Addresses.
# ---------------------------------------------------------------------------

def _rand_in(rng: random.Random, cidr: str) -> str:
    net = ipaddress.ip_network(cidr)
    if net.version == 4:
        while True:
            a = ipaddress.IPv4Address(int(net.network_address) + rng.randrange(net.num_addresses))
            if a.packed[3] not in (0, 255):
                return str(a)
    # IPv6: a random /64 inside the prefix and a random interface id.
    host_bits = 128 - net.prefixlen
    return str(ipaddress.IPv6Address(int(net.network_address) + rng.getrandbits(host_bits)))


def residential_ip(rng: random.Random, country: str, allow_v6: bool = True) -> tuple[str, int]:
    nets = RESIDENTIAL[country]
    asn, _, v4, v6, v6share = rng.choices(nets, weights=[n[1] for n in nets])[0]
    if allow_v6 and v6 and rng.random() < v6share:
        return _rand_in(rng, v6), asn
    return _rand_in(rng, rng.choice(v4)), asn


def hosting_ip(rng: random.Random, provider: str, block: int | None = None) -> tuple[str, str, int]:
    asn, blocks = HOSTING[provider]
    cidr, country = blocks[block if block is not None else rng.randrange(len(blocks))]
    return _rand_in(rng, cidr), country, asn


def subnet24_ips(rng: random.Random, provider: str, n_subnets: int, per_subnet: int):
    """A narrow range: a few /24s of one provider, several hosts in each."""
    asn, blocks = HOSTING[provider]
    out = []
    for _ in range(n_subnets):
        cidr, country = rng.choice(blocks)
        base = ipaddress.ip_address(_rand_in(rng, cidr))
        net = ipaddress.ip_network(f"{base}/24", strict=False)
        hosts = rng.sample(range(2, 254), per_subnet)
        out += [(str(net.network_address + h), country, asn) for h in hosts]
    return out


# ---------------------------------------------------------------------------
# Events.
# ---------------------------------------------------------------------------

class Traffic:
    def __init__(self, name: str):
        self.name = name
        self.events = []  # (t, seq, ip, ip_country, asn, phone, channel, verified, captcha_false, label)

    def add(self, t, ip, ipc, asn, phone, channel, verified, label, captcha_false=False):
        self.events.append((int(t), len(self.events), ip, ipc, asn, phone, channel,
                            bool(verified), bool(captcha_false), label))

    def sorted(self):
        return sorted(self.events, key=lambda e: (e[0], e[1]))


def sample_times(rng, n, weights, start, minutes):
    """n timestamps (seconds) from a per-minute weight array starting at `start`."""
    cum = []
    s = 0.0
    for w in weights:
        s += w
        cum.append(s)
    out = []
    for _ in range(n):
        m = bisect.bisect_left(cum, rng.random() * s)
        out.append(start + min(m, minutes - 1) * 60 + rng.randrange(60))
    return sorted(out)


def country_weights(country, start, minutes, tz_override=None):
    tzs = tz_override or TZ_OF[country]
    total = sum(w for _, w in tzs)
    return [sum(w * curve_at((start / 60 + m) + tz * 60) for tz, w in tzs) / total
            for m in range(minutes)]


DAY_MASS = sum(curve_at(m) for m in range(1440))  # curve mass over a full day


class Legit:
    """The app's real users: sessions of one or more requests for one number."""

    def __init__(self, rng, numbers: Numbers, traffic: Traffic, p_call: float = 0.00025):
        self.rng = rng
        self.numbers = numbers
        self.t = traffic
        self.p_call = p_call
        self.seen: dict[str, list] = defaultdict(list)  # country -> numbers seen today
        self.last: dict[str, int] = {}                   # number -> end of its last session
        self.sessions = 0

    def conversion(self, country):
        for c, _, _, conv in MAIN:
            if c == country:
                return conv
        return 0.76 + 0.08 * random.Random(f"{SEED}/conv/{country}").random()

    def shares(self):
        tail_total = sum(w for _, w, _ in LONG_TAIL)
        out = {c: s for c, s, _, _ in MAIN}
        out.update({c: LONG_TAIL_SHARE * w / tail_total for c, w, _ in LONG_TAIL})
        return out

    def plan(self, daily_events, start, end, shares=None, extra=None):
        """Session start times per country for a day of `daily_events` seen in [start, end)."""
        shares = shares or self.shares()
        minutes = (end - start) // 60
        eps = 1 + P_RESEND * 1.4 + self.p_call * 3  # mean events per session
        plan = {}
        for c, share in shares.items():
            w = country_weights(c, start, minutes)
            if extra is not None:
                w = [a * b for a, b in zip(w, extra)]
            mass = sum(w) / DAY_MASS
            n = round(daily_events / eps * share * mass)
            if n:
                plan[c] = (n, w)
        return plan, minutes

    def run(self, plan, minutes, start, conv_factor=1.0, p_resend=P_RESEND):
        demand = {(c, "mobile"): n for c, (n, _) in plan.items()}
        self.numbers.reserve(demand)
        for c in sorted(plan):
            n, w = plan[c]
            for t0 in sample_times(self.rng, n, w, start, minutes):
                self.session(c, t0, conv_factor, p_resend)

    def network(self, country):
        rng = self.rng
        r = rng.random()
        if r < P_VPN:
            ip, ipc, asn = hosting_ip(rng, rng.choice(["m247", "digitalocean", "aws", "ovh"]))
            return ip, ipc, asn
        if r < P_VPN + P_TRAVEL:
            away = rng.choice([c for c in ("US", "GB", "FR", "DE", "ES", "IT", "PT", "NL", "AE", "CA")
                               if c != country])
            ip, asn = residential_ip(rng, away)
            return ip, away, asn
        ip, asn = residential_ip(rng, country)
        return ip, country, asn

    def session(self, country, t0, conv_factor=1.0, p_resend=P_RESEND):
        rng = self.rng
        self.sessions += 1
        seen = self.seen[country]
        number = None
        if seen and rng.random() < P_RETURN:
            old = seen[rng.randrange(len(seen))]
            if t0 - self.last[old] > 3600:
                number = old
        if number is None:
            number = self.numbers.take(country)
            seen.append(number)
        ip, ipc, asn = self.network(country)
        conv = min(0.97, self.conversion(country) * conv_factor)
        r = rng.random()
        t = t0
        if r < self.p_call:
            # Three time-delayed codes that never arrive, then "call me instead".
            for _ in range(3):
                self.t.add(t, ip, ipc, asn, number, "sms", False, "legit")
                t += rng.randint(45, 180)
            self.t.add(t, ip, ipc, asn, number, "call", rng.random() < 0.85, "legit")
        elif r < self.p_call + p_resend:
            k = 2 if rng.random() < 0.6 else 3
            for i in range(k):
                last = i == k - 1
                self.t.add(t, ip, ipc, asn, number, "sms", last and rng.random() < conv * 0.92, "legit")
                t += rng.randint(60, 300)
        else:
            self.t.add(t, ip, ipc, asn, number, "sms", rng.random() < conv, "legit")
        self.last[number] = t


# ---------------------------------------------------------------------------
# Scenarios. Each returns (Traffic, expected dict).
# ---------------------------------------------------------------------------

def minute_rate_events(rng, start, end, rate_fn):
    """Event times for a per-minute rate function (events/minute), rounded stochastically."""
    out = []
    for m in range((end - start) // 60):
        t_min = start + m * 60
        lam = rate_fn(t_min)
        k = int(lam)
        if rng.random() < lam - k:
            k += 1
        out += sorted(t_min + rng.randrange(60) for _ in range(k))
    return out


def proxy_pool(rng, countries, n, exclude=()):
    pool = []
    countries = [c for c in countries if c not in exclude]
    for _ in range(n):
        c = rng.choice(countries)
        ip, asn = residential_ip(rng, c, allow_v6=False)
        pool.append((ip, c, asn))
    return pool


def hosting_pool(rng, providers, n):
    return [hosting_ip(rng, rng.choice(providers)) for _ in range(n)]


def scen_normal_day(ctx):
    t = Traffic("normal-day")
    legit = Legit(ctx.rng("legit"), ctx.numbers, t)
    start, end = 0, 86400
    plan, minutes = legit.plan(100_000 * ctx.scale, start, end)
    legit.run(plan, minutes, start)
    return t, {"intent": "a full ordinary day; nothing to block", "attack_destinations": []}


def scen_rca_pumping(ctx):
    t = Traffic("rca-pumping")
    rng = ctx.rng("attack")
    start, end = hm(8), hm(17)
    legit = Legit(ctx.rng("legit"), ctx.numbers, t)
    plan, minutes = legit.plan(ctx.app_daily, start, end)
    legit.run(plan, minutes, start)

    a0, block_at, resume_at, a1 = hm(14), hm(15 + 10 / 60), hm(15 + 18 / 60), hm(16 + 5 / 60)
    s = ctx.scale

    def rate(tm):
        if tm < hm(14.25):          # ramp up over 15 minutes
            base = 8 + (90 - 8) * (tm - a0) / (hm(14.25) - a0)
        elif tm < block_at:
            base = 90
        elif tm < resume_at:        # the IP block bites; the rotation is under way
            base = 50
        elif tm < hm(15 + 55 / 60):
            base = 85
        else:                       # winds down
            base = 85 * max(0.0, (a1 - tm) / (a1 - hm(15 + 55 / 60)))
        return base * s * rng.uniform(0.85, 1.15)

    times = minute_rate_events(rng, a0, a1, rate)

    # Phase 1: a narrow range of cloud addresses. Phase 2: fresh proxies after the block.
    phase1 = (subnet24_ips(rng, "aws", 3, 8) + subnet24_ips(rng, "digitalocean", 2, 8)
              + subnet24_ips(rng, "ovh", 2, 6))
    phase1_w = [1 / (i + 1) ** 0.6 for i in range(len(phase1))]
    n2 = max(60, int(len(times) / 2.8 * 0.55))
    phase2 = (hosting_pool(rng, ["hetzner", "vultr", "linode", "m247", "contabo"], int(n2 * 0.4))
              + proxy_pool(rng, ["VN", "ID", "BR", "IN", "TH", "EG", "RU", "UA", "PH", "BD"], n2 - int(n2 * 0.4)))

    # Destinations: a few blocks each, walked almost sequentially.
    blocks = {
        "CG": {1: [("06612", 4)], 2: [("06612", 4), ("05530", 4)]},
        "LV": {1: [("2661", 4)], 2: [("2948", 4)]},
        "KG": {1: [("70012", 4)], 2: [("77045", 4)]},
    }
    dest_w = {"CG": 0.45, "LV": 0.33, "KG": 0.22}
    walkers = {}
    for c, phases in blocks.items():
        for ph, bl in phases.items():
            for prefix, width in bl:
                key = (c, prefix)
                if key not in walkers:
                    nums = ctx.numbers.block(c, prefix, width)
                    walkers[key] = {"nums": nums, "i": rng.randrange(len(nums) // 10), "recent": []}
    phase_counts = Counter()
    for tt in times:
        ph = 1 if tt < block_at else 2
        c = rng.choices(list(dest_w), weights=list(dest_w.values()))[0]
        prefix, _ = rng.choice(blocks[c][ph])
        w = walkers[(c, prefix)]
        if w["recent"] and rng.random() < 0.08:
            num = rng.choice(w["recent"])                  # a retry of a recent number
        else:
            w["i"] = (w["i"] + rng.choice((1, 1, 1, 2, 2, 3, 5))) % len(w["nums"])
            num = w["nums"][w["i"]]
            w["recent"] = (w["recent"] + [num])[-20:]
        if ph == 1:
            ip, ipc, asn = rng.choices(phase1, weights=phase1_w)[0]
        else:
            ip, ipc, asn = rng.choice(phase2)
        phase_counts[ph] += 1
        t.add(tt, ip, ipc, asn, num, "sms", rng.random() < 0.003, "attack")
    return t, {
        "intent": "the RCA incident: pumping to +242/+371/+996 from cloud IPs, rotation after an IP block",
        "attack_destinations": ["+242", "+371", "+996"],
        "attack_prefixes": sorted({f"+{CC[c]}{p}" for c, ph in blocks.items() for bl in ph.values() for p, _ in bl}),
        "timeline": {"baseline_from": ts_str(start), "attack_start": ts_str(a0),
                     "conversion_collapsed_by": ts_str(hm(14.25)), "ip_block_and_rotation": ts_str(block_at),
                     "attack_end": ts_str(a1), "file_end": ts_str(end)},
        "attack_events_before_rotation": phase_counts[1],
        "attack_events_after_rotation": phase_counts[2],
        "attack_asns_before_rotation": sorted({a for _, _, a in phase1}),
    }


def scen_sequential_prefix(ctx):
    t = Traffic("sequential-prefix")
    rng = ctx.rng("attack")
    start, end = hm(6), hm(18)
    legit = Legit(ctx.rng("legit"), ctx.numbers, t)
    plan, minutes = legit.plan(ctx.app_daily, start, end)
    legit.run(plan, minutes, start)

    nums = ctx.numbers.block("GB", "740012", 4)   # +44 7400 12xxxx
    a0, a1 = hm(9.5), hm(15.5)
    gap = 7.0 / ctx.scale
    times, tt = [], float(a0)
    while tt < a1:
        times.append(int(tt))
        tt += rng.uniform(gap * 0.6, gap * 1.4)
    npool = max(40, len(times) // 3)
    pool = (hosting_pool(rng, ["digitalocean", "vultr", "ovh", "aws", "linode"], npool // 2)
            + proxy_pool(rng, ["GB"], npool // 5)
            + proxy_pool(rng, ["VN", "ID", "BR", "IN", "RU", "UA", "NG", "PK"], npool - npool // 2 - npool // 5))
    i = rng.randrange(50)
    for tt in times:
        i = min(i + (1 if rng.random() < 0.9 else 2), len(nums) - 1)
        ip, ipc, asn = rng.choice(pool)
        t.add(tt, ip, ipc, asn, nums[i], "sms", False, "attack")
    return t, {
        "intent": "one 8-digit prefix walked number by number at a steady pace from many IPs",
        "attack_destinations": ["+44"],
        "attack_prefixes": ["+44740012"],
        "timeline": {"attack_start": ts_str(a0), "attack_end": ts_str(a1)},
        "attack_distinct_ips": len({p[0] for p in pool}),
    }


# Where the slow spreads' residential proxies exit, in draw order.
PROXY_EXITS = ["VN", "ID", "BR", "IN", "TH", "RU", "UA", "PH", "EG", "BD"]


def scen_slow_spread(ctx):
    t = Traffic("slow-spread")
    rng = ctx.rng("attack")
    start, end = 0, 86400
    legit = Legit(ctx.rng("legit"), ctx.numbers, t)
    plan, minutes = legit.plan(ctx.app_daily, start, end)
    legit.run(plan, minutes, start)

    main = ["US", "GB", "FR", "DE", "BR", "IN"]
    tail = ["CA", "MX", "IT", "NL", "PT", "PL", "SE", "BE", "CH", "AT", "IE", "AU", "NG",
            "ZA", "EG", "TR", "ID", "PH", "AR", "CO", "RO", "MA"]
    per_country, demand = {}, {}
    for c in main + tail:
        base_events = plan[c][0] * (1 + P_RESEND * 1.4)
        frac = rng.uniform(0.05, 0.09) if c in main else rng.uniform(0.15, 0.30)
        per_country[c] = (max(2, round(base_events * frac)), frac)
        demand[(c, "mobile")] = per_country[c][0]
    ctx.numbers.reserve(demand)
    flat = [1.0] * minutes
    for c, (n, frac) in per_country.items():
        w = country_weights(c, start, minutes)
        w = [0.5 * a / (sum(w) / minutes) + 0.5 * b for a, b in zip(w, flat)]
        for tt in sample_times(rng, n, w, start, minutes):
            r = rng.random()
            if r < 0.35:
                ip, ipc, asn = hosting_ip(rng, rng.choice(list(HOSTING)))
            elif r < 0.65:
                ip, asn = residential_ip(rng, c, allow_v6=False)   # proxy exit in the phone's country
                ipc = c
            else:
                ipc = rng.choice(PROXY_EXITS)
                ip, asn = residential_ip(rng, ipc, allow_v6=False)
            t.add(tt, ip, ipc, asn, ctx.numbers.take(c), "sms", False, "attack")
    return t, {
        "intent": "low-and-slow: 28 countries each a little above normal, unverified, under per-key limits",
        "attack_destinations": sorted({f"+{CC[c]}" for c in per_country}),
        "attack_countries": sorted(per_country),
        "attack_excess_over_normal": {c: round(f, 3) for c, (_, f) in sorted(per_country.items())},
    }


def scen_slow_spread_abroad(ctx):
    """Low-and-slow pumping to many high-cost destinations the app has never served."""
    t = Traffic("slow-spread-abroad")
    rng = ctx.rng("attack")
    start, end = 0, 86400
    legit = Legit(ctx.rng("legit"), ctx.numbers, t)
    plan, minutes = legit.plan(ctx.app_daily, start, end)
    legit.run(plan, minutes, start)

    targets = ["TJ", "UZ", "AZ", "BY", "GE", "AM", "MN", "LK", "NP", "CM", "CD", "AO", "GA",
               "ML", "TD", "LR", "KH", "TL", "PG", "CG", "KG", "CU", "SL", "GN", "SO"]
    per_hour = {c: rng.uniform(2.0, 5.0) for c in targets}
    counts = {c: max(2, round(r * 24 * ctx.scale)) for c, r in per_hour.items()}
    ctx.numbers.reserve({(c, "mobile"): n for c, n in counts.items()})
    for c in targets:
        for tt in sample_times(rng, counts[c], [1.0] * minutes, start, minutes):
            if rng.random() < 0.35:
                ip, ipc, asn = hosting_ip(rng, rng.choice(list(HOSTING)))
            else:
                ipc = rng.choice(PROXY_EXITS)
                ip, asn = residential_ip(rng, ipc, allow_v6=False)
            t.add(tt, ip, ipc, asn, ctx.numbers.take(c), "sms", False, "attack")
    return t, {
        "intent": "low-and-slow over 25 high-cost destinations the app never served, 2-5 sends an hour each, unverified, under per-key limits",
        "attack_destinations": sorted({f"+{CC[c]}" for c in targets}),
        "attack_countries": sorted(targets),
        "attack_sends_per_hour": {c: round(r, 2) for c, r in sorted(per_hour.items())},
    }


def scen_voice_toll_fraud(ctx):
    t = Traffic("voice-toll-fraud")
    rng = ctx.rng("attack")
    start, end = hm(6), hm(18)
    legit = Legit(ctx.rng("legit"), ctx.numbers, t, p_call=0.003)
    plan, minutes = legit.plan(ctx.app_daily, start, end)
    legit.run(plan, minutes, start)

    targets = []  # (country, kind, weight)
    targets += [(c, "premium", w) for c, w in (("GB", 12), ("LV", 10), ("LT", 10), ("AT", 6), ("DE", 5), ("TN", 5))]
    targets += [(c, "mobile", w) for c, w in (("CU", 12), ("SL", 10), ("GN", 8), ("SO", 8), ("LV", 4))]
    targets += [(c, "fixed", w) for c, w in (("CU", 4), ("SL", 3), ("GN", 2), ("ST", 3))]
    # IRSF ranges: a small set of numbers per destination, each dialled again and again.
    ctx.numbers.reserve({(c, k): 12 for c, k, _ in targets})
    numbers = {(c, k): [ctx.numbers.take(c, k) for _ in range(rng.randint(6, 12))] for c, k, _ in targets}
    bots = hosting_pool(rng, ["aws", "digitalocean", "ovh", "hetzner", "vultr", "linode", "tencent", "alibaba"],
                        max(30, int(160 * ctx.scale)))
    bursts = []
    tt = hm(10)
    while tt < hm(14):
        bursts.append((tt, rng.randint(6, 12) * 60, rng.uniform(8, 16) * ctx.scale))
        tt += rng.randint(12, 25) * 60
    kinds = Counter()
    for b0, dur, per_min in bursts:
        bot_set = rng.sample(bots, min(len(bots), 25))
        for tt in minute_rate_events(rng, b0, b0 + dur, lambda _m: per_min * rng.uniform(0.8, 1.2)):
            c, k, _ = rng.choices(targets, weights=[w for *_, w in targets])[0]
            ip, ipc, asn = rng.choice(bot_set)
            kinds[k] += 1
            t.add(tt, ip, ipc, asn, rng.choice(numbers[(c, k)]), "call", False, "attack",
                  captcha_false=rng.random() < 0.35)
    return t, {
        "intent": "direct calls (no SMS first) to premium-rate and high-cost numbers from bot IPs",
        "attack_destinations": sorted({f"+{CC[c]}" for c, _, _ in targets}),
        "attack_number_kinds": {"premium_rate": kinds["premium"], "mobile": kinds["mobile"], "fixed_line": kinds["fixed"]},
        "timeline": {"attack_start": ts_str(bursts[0][0]), "bursts": len(bursts)},
    }


def scen_marketing_surge(ctx):
    t = Traffic("marketing-surge")
    start, end = hm(6), hm(22)
    legit = Legit(ctx.rng("legit"), ctx.numbers, t)
    plan, minutes = legit.plan(ctx.app_daily, start, end)
    legit.run(plan, minutes, start)

    # The campaign goes out at 16:00 UTC: demand multiplier peaks near x8, decays by 18:30.
    s0, peak, s1 = hm(16), hm(16.25), hm(18.5)

    def mult(tm):
        if tm < s0 or tm >= s1:
            return 1.0
        if tm < peak:
            return 1 + 7.5 * (tm - s0) / (peak - s0)
        return 1 + 7.5 * ((s1 - tm) / (s1 - peak)) ** 0.8

    campaign = {"US": 0.33, "GB": 0.14, "FR": 0.11, "DE": 0.10, "BR": 0.10, "IN": 0.07, "ES": 0.15}
    extra = [mult(start + m * 60) - 1 for m in range(minutes)]
    # Base demand (all countries) at each minute, to size the surge as a multiple of it.
    base_plan = plan
    base_rate = [0.0] * minutes
    for c, (n, w) in base_plan.items():
        tot = sum(w)
        for m in range(minutes):
            base_rate[m] += n * w[m] / tot
    surge_sessions = sum(e * b for e, b in zip(extra, base_rate))
    sw = [e * b for e, b in zip(extra, base_rate)]
    srng = ctx.rng("surge")
    surge = Legit(srng, ctx.numbers, t)
    surge.seen, surge.last = legit.seen, legit.last
    demand = {}
    counts = {}
    for c, share in campaign.items():
        counts[c] = round(surge_sessions * share)
        demand[(c, "mobile")] = counts[c]
    ctx.numbers.reserve(demand)
    for c in sorted(campaign):
        for t0 in sample_times(srng, counts[c], sw, start, minutes):
            surge.session(c, t0, conv_factor=0.95, p_resend=0.05)
    return t, {
        "intent": "a genuine campaign: x5-10 volume for ~2.5 h in the usual countries plus Spain (new)",
        "attack_destinations": [],
        "new_country": "ES",
        "surge": {"start": ts_str(s0), "peak": ts_str(peak), "end": ts_str(s1),
                  "peak_multiplier": 8.5, "campaign_sessions": sum(counts.values())},
    }


SCENARIOS = [
    ("normal-day", scen_normal_day),
    ("rca-pumping", scen_rca_pumping),
    ("sequential-prefix", scen_sequential_prefix),
    ("slow-spread", scen_slow_spread),
    ("slow-spread-abroad", scen_slow_spread_abroad),
    ("voice-toll-fraud", scen_voice_toll_fraud),
    ("marketing-surge", scen_marketing_surge),
]

# What a good policy does with each scenario: loose bounds a test can assert on
# the replay report joined with the labels (fractions of that label's events).
GOOD_POLICY = {
    "normal-day": {"max_legit_blocked": 0.01},
    "rca-pumping": {"min_attack_blocked": 0.90, "max_legit_blocked": 0.01},
    "sequential-prefix": {"min_attack_blocked": 0.90, "max_legit_blocked": 0.01},
    "slow-spread": {"min_attack_blocked": 0.30, "max_legit_blocked": 0.02},
    "slow-spread-abroad": {"min_attack_blocked": 0.85, "max_legit_blocked": 0.01},
    "voice-toll-fraud": {"min_attack_blocked": 0.99, "max_legit_blocked": 0.01},
    "marketing-surge": {"max_legit_blocked": 0.02},
}


# ---------------------------------------------------------------------------
# Output, ground truth and verification.
# ---------------------------------------------------------------------------

class Ctx:
    def __init__(self, name, scale, validator):
        self.name = name
        self.scale = scale
        self.app_daily = 30_000 * scale   # the same app, scaled down for the incident files
        self.numbers = Numbers(validator, f"{SEED}/{name}")

    def rng(self, part):
        return random.Random(f"{SEED}/{self.name}/{part}")


def dest_prefix(phone: str) -> str:
    for n in (3, 2, 1):
        cc = phone[1:1 + n]
        if cc in CC.values():
            return "+" + cc
    return phone[:4]


def write(out_dir, name, events):
    with open(os.path.join(out_dir, name + ".jsonl"), "w", newline="\n") as f, \
            open(os.path.join(out_dir, name + ".labels"), "w", newline="\n") as g:
        for e in events:
            t, _, ip, ipc, asn, phone, ch, ver, cap_false, label = e
            line = (f'{{"ts":"{ts_str(t)}","ip":"{ip}","ip_country":"{ipc}","asn":{asn},'
                    f'"phone":"{phone}","channel":"{ch}","verified":{"true" if ver else "false"}')
            f.write(line + (',"captcha":false}\n' if cap_false else "}\n"))
            g.write(label + "\n")


def summarise(name, events, extra):
    att = [e for e in events if e[9] == "attack"]
    leg = [e for e in events if e[9] == "legit"]
    leg_sms = [e for e in leg if e[6] == "sms"]
    d = {
        "file": name + ".jsonl",
        "seed": SEED,
        "scale": SCALE,
        "labels": name + ".labels",
        "events": len(events),
        "attack_events": len(att),
        "legit_events": len(leg),
        "first_ts": ts_str(events[0][0]),
        "last_ts": ts_str(events[-1][0]),
        "channels": dict(sorted(Counter(e[6] for e in events).items())),
        "legit_conversion": round(sum(e[7] for e in leg) / len(leg), 4),
        "legit_sms_conversion": round(sum(e[7] for e in leg_sms) / max(1, len(leg_sms)), 4),
        "legit_calls": sum(1 for e in leg if e[6] == "call"),
        "legit_ip_country_mismatch": round(sum(1 for e in leg if e[3] != region_of(e[5])) / len(leg), 4),
        "legit_on_hosting_asn": sum(1 for e in leg if e[4] in HOSTING_ASNS),
        "captcha_false": {"attack": sum(e[8] for e in att), "legit": sum(e[8] for e in leg)},
        "distinct_phones": len({e[5] for e in events}),
        "distinct_ips": len({e[2] for e in events}),
    }
    if att:
        a0, a1 = att[0][0], att[-1][0]
        d["attack_window"] = {"first": ts_str(a0), "last": ts_str(a1)}
        d["attack_verified"] = sum(e[7] for e in att)
        d["attack_channels"] = dict(sorted(Counter(e[6] for e in att).items()))
        d["attack_asns"] = sorted({e[4] for e in att})
        d["attack_distinct_ips"] = len({e[2] for e in att})
        d["attack_distinct_phones"] = len({e[5] for e in att})
        d["attack_ip_country_mismatch"] = round(sum(1 for e in att if e[3] != region_of(e[5])) / len(att), 4)
        by_dest = Counter(dest_prefix(e[5]) for e in att)
        d["attack_events_by_destination"] = dict(sorted(by_dest.items(), key=lambda kv: -kv[1]))
        # Conversion per attacked destination (all traffic to it) inside the attack window.
        conv = {}
        for p in by_dest:
            win = [e for e in events if a0 <= e[0] <= a1 and dest_prefix(e[5]) == p]
            conv[p] = round(sum(e[7] for e in win) / len(win), 4)
        d["conversion_in_attack_window_by_destination"] = dict(sorted(conv.items()))
    d.update(extra)
    d["good_policy"] = GOOD_POLICY[name]
    return d


HOSTING_ASNS = {asn for asn, _ in HOSTING.values()}
SCALE = 1.0
VALIDATOR: Validator | None = None


def region_of(phone):
    return VALIDATOR.region_of(phone)


def verify(out_dir, names, validator):
    """Re-read what was written: format, order, labels, and every number."""
    keys = ["ts", "ip", "ip_country", "asn", "phone", "channel", "verified"]
    phones = defaultdict(set)
    for name in names:
        with open(os.path.join(out_dir, name + ".jsonl")) as f:
            lines = f.read().splitlines()
        with open(os.path.join(out_dir, name + ".labels")) as g:
            labels = g.read().splitlines()
        assert len(lines) == len(labels), f"{name}: {len(lines)} events, {len(labels)} labels"
        assert set(labels) <= {"attack", "legit"}, f"{name}: unexpected label"
        prev = ""
        for i, line in enumerate(lines, 1):
            e = json.loads(line)
            k = list(e)
            assert k[:7] == keys and (k[7:] == [] or (k[7:] == ["captcha"] and e["captcha"] is False)), \
                f"{name}:{i}: fields {k}"
            assert e["ts"] >= prev, f"{name}:{i}: ts goes back"
            prev = e["ts"]
            datetime.strptime(e["ts"], "%Y-%m-%dT%H:%M:%SZ")
            ipaddress.ip_address(e["ip"])
            assert isinstance(e["asn"], int) and isinstance(e["verified"], bool)
            assert e["channel"] in ("sms", "call")
            phones[e["channel"]].add(e["phone"])
    validator.check(phones["sms"] | phones["call"])
    bad_sms = [p for p in phones["sms"] if validator.type_of(p) not in SMS_TYPES]
    bad_call = [p for p in phones["call"] if validator.type_of(p) is None]
    assert not bad_sms, f"SMS numbers not valid mobiles: {bad_sms[:5]}"
    assert not bad_call, f"call numbers not valid: {bad_call[:5]}"
    return {ch: len(s) for ch, s in phones.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=HERE, help="output directory (default: next to this script)")
    ap.add_argument("--scale", type=float, default=1.0, help="volume multiplier (default 1)")
    ap.add_argument("--otp-guard", default=DEFAULT_BIN, help="path of the otp-guard binary")
    ap.add_argument("--only", action="append", help="generate only this scenario (repeatable)")
    ap.add_argument("--no-verify", action="store_true", help="skip re-reading and re-validating the output")
    args = ap.parse_args(argv)
    if not (os.path.isfile(args.otp_guard) and os.access(args.otp_guard, os.X_OK)):
        sys.exit(f"{args.otp_guard} not found: build it with `cargo build --release` in {REPO}")
    if args.scale <= 0:
        sys.exit("--scale must be positive")
    os.makedirs(args.out, exist_ok=True)
    global VALIDATOR, SCALE
    validator = VALIDATOR = Validator(args.otp_guard)
    SCALE = args.scale
    names = [n for n, _ in SCENARIOS if not args.only or n in args.only]
    exp_path = os.path.join(args.out, "expected.json")
    expected = {}
    if args.only and os.path.exists(exp_path):
        with open(exp_path) as f:
            expected = json.load(f)
    for name, fn in SCENARIOS:
        if name not in names:
            continue
        ctx = Ctx(name, args.scale, validator)
        traffic, extra = fn(ctx)
        events = traffic.sorted()
        write(args.out, name, events)
        expected[name] = summarise(name, events, extra)
        d = expected[name]
        print(f"{name:18} {d['events']:7} events  attack {d['attack_events']:6}  legit {d['legit_events']:7}"
              f"  legit conv {d['legit_conversion']:.3f}", file=sys.stderr)
    with open(exp_path, "w", newline="\n") as f:
        json.dump({n: expected[n] for n, _ in SCENARIOS if n in expected}, f, indent=1)
        f.write("\n")
    if not args.no_verify:
        counts = verify(args.out, names, validator)
        print(f"verified: format, order, labels; {counts.get('sms', 0)} SMS and {counts.get('call', 0)} call "
              f"numbers valid per otp-guard phone ({validator.calls} validator runs, "
              f"{validator.checked} numbers checked)", file=sys.stderr)


if __name__ == "__main__":
    main()
