#!/usr/bin/env python3
"""A realistic synthetic national catalogue (医保目录) for load tests and demos.

Writes a policy file (docs/settlement.md): the bundled policies and a catalogue of drug
products, medical service items and consumables with codes in the national forms
(drugs 23 characters: X/Z, the ATC level-4 class, generic name, dosage form, specification,
product; services 15 digits; consumables 27 characters: C and 26 digits) and the disease list
(ICD-10, the national insurance version's form: E11.900, E11.900X001; list type 901), categories
甲/乙/丙, reference prices in fen with Quzhou regional prices for part of them, item-specific
first self-pay ratios for part of the 乙类 consumables, and effective dates.

    scripts/generate-catalogue.py --drugs 60000 --services 10000 --consumables 50000 --diseases 30000 > catalogue.json
    settlement --policy.file catalogue.json       # published as a catalogue version at start-up

    scripts/generate-catalogue.py --csv > catalogue.csv    # the records alone, as 1301-1306 rows
    medicare import catalogue catalogue.csv --ver 2024.12  # imported and published through the gateway

The same seed gives the same file. Standard library only.
"""
import argparse
import csv
import json
import random
import sys
from pathlib import Path

# ATC level-4 classes common in primary care, with a generic stem and a usual daily supply.
ATC = [
    ("J01CA", "阿莫西林"), ("J01CR", "阿莫西林克拉维酸钾"), ("J01DB", "头孢氨苄"), ("J01DC", "头孢呋辛"), ("J01DD", "头孢曲松"),
    ("J01FA", "阿奇霉素"), ("J01MA", "左氧氟沙星"), ("C08CA", "硝苯地平"), ("C09AA", "依那普利"), ("C09CA", "缬沙坦"),
    ("C07AB", "美托洛尔"), ("C03AA", "氢氯噻嗪"), ("C10AA", "阿托伐他汀"), ("A10BA", "二甲双胍"), ("A10BB", "格列美脲"),
    ("A10BF", "阿卡波糖"), ("A02BC", "奥美拉唑"), ("A02BA", "雷尼替丁"), ("N02BE", "对乙酰氨基酚"), ("M01AE", "布洛芬"),
    ("R05CB", "氨溴索"), ("R06AE", "西替利嗪"), ("B01AC", "阿司匹林"), ("G04CA", "坦索罗辛"), ("H02AB", "地塞米松"),
    ("R03AC", "沙丁胺醇"), ("N05BA", "地西泮"), ("A07DA", "洛哌丁胺"), ("D07AC", "糠酸莫米松"), ("S01AA", "妥布霉素"),
]
FORMS = [("A001", "胶囊"), ("B001", "片"), ("B002", "缓释片"), ("E001", "注射液"), ("E002", "注射用粉针"), ("G001", "颗粒"), ("K001", "乳膏")]
PATENT = ["感冒清热颗粒", "复方丹参滴丸", "六味地黄丸", "板蓝根颗粒", "银翘解毒片", "藿香正气水", "连花清瘟胶囊", "牛黄解毒片"]
SERVICES = ["一般诊疗费", "静脉输液", "肌肉注射", "换药", "血常规检查", "尿常规检查", "心电图检查", "血糖测定", "中医针刺", "推拿治疗",
            "拔罐", "雾化吸入", "清创缝合", "导尿", "吸氧"]
CONSUMABLES = ["一次性输液器", "一次性注射器", "医用棉签", "医用纱布", "导尿管", "输液贴", "医用胶带", "采血针", "雾化面罩", "鼻氧管"]


def drug(rng, i):
    patent = rng.random() < 0.2
    if patent:
        name = f"{rng.choice(PATENT)} 规格{i % 97 + 1}"
        code = "Z" + rng.choice("ABCDEFG") + f"{rng.randrange(100):02d}" + rng.choice("ABCD") + rng.choice("ABCD")
        form, form_name = rng.choice(FORMS[:3] + FORMS[5:6])
    else:
        cls, stem = rng.choice(ATC)
        form, form_name = rng.choice(FORMS)
        name = f"{stem}{form_name} {rng.choice([5, 10, 20, 25, 50, 100, 250, 500])}mg"
        code = "X" + cls
    code += f"{rng.choice('ABCDEFGHJKLMNPRSTWXYZ')}{i % 1000:03d}{form}{rng.randrange(10000):04d}{i:05d}"[-(23 - len(code)):]
    assert len(code) == 23, code
    category = rng.choices("ABC", weights=[40, 55, 5])[0]
    price = rng.randrange(5, 5_000)
    item = {"code": code, "name": name, "category": category, "referencePrice": price, "listType": "101",
            "begndate": "2024-01-01", "maxQuantity": rng.choice([30, 60, 90, 180]), "maxDays": rng.choice([7, 14, 30])}
    if rng.random() < 0.3:
        item["regionalPrices"] = {"3308": price * rng.randrange(80, 100) // 100}
    if not patent and cls.startswith("J01"):
        item["antibiotic"] = True
    if form.startswith("E"):
        item["injection"] = True
    if rng.random() < 0.15:
        item["vbp"] = True
    return item


def service(rng, i):
    code = f"00{110000000 + i * 7 % 890000000:09d}{i % 10000:04d}"
    item = {"code": code, "name": f"{rng.choice(SERVICES)}（{i}）", "category": rng.choices("AB", weights=[70, 30])[0],
            "referencePrice": rng.randrange(100, 30_000), "listType": "201", "begndate": "2024-01-01", "maxQuantity": rng.choice([1, 3, 10])}
    if "输液" in item["name"] or "注射" in item["name"]:
        item["injection"] = True
    return item


def consumable(rng, i):
    code = f"C{rng.randrange(1, 20):02d}{rng.randrange(1, 10):02d}{rng.randrange(1, 10):02d}{i:05d}{rng.randrange(1000):03d}{rng.randrange(10000):04d}{i * 31 % 100000000:08d}"
    assert len(code) == 27, code
    item = {"code": code, "name": f"{rng.choice(CONSUMABLES)} 型号{i}", "category": rng.choices("BC", weights=[85, 15])[0],
            "referencePrice": rng.randrange(50, 200_000), "listType": "301", "begndate": "2024-01-01", "maxQuantity": 100}
    if item["category"] == "B" and rng.random() < 0.4:
        item["selfPayRatio"] = rng.choice([1000, 2000, 3000])
    return item


# ICD-10 chapters' letters (U is reserved) and a few category names for the synthetic diagnoses.
LETTERS = "ABCDEFGHIJKLMNOPQRSTVWXYZ"
DISEASE_NAMES = ["感染", "炎", "综合征", "损伤", "功能障碍", "肿物", "畸形", "中毒"]


def disease(rng, i):
    """A diagnosis of the disease list: a category (letter, 2 digits), a subcategory and the
    insurance version's 2 digits, and for every later round an X and 3 digits."""
    i -= 1
    letter, category, sub, ext = LETTERS[i % 25], (i // 25) % 100, (i // 2_500) % 10, i // 25_000
    code = f"{letter}{category:02d}.{sub}00" + (f"X{ext:03d}" if ext else "")
    item = {"code": code, "name": f"{letter}{category:02d}类{DISEASE_NAMES[i % len(DISEASE_NAMES)]}", "listType": "901"}
    if rng.random() < 0.02:
        item["begndate"] = "2025-01-01"
    return item


# The CSV's columns: the national field names `medicare import catalogue` reads (docs/settlement.md).
CSV_COLUMNS = ["med_list_codg", "list_type", "name", "chrgitm_lv", "selfpay_prop", "pric_uplmt_amt", "regional_prices", "begndate",
               "enddate", "max_qty", "max_days", "chronic_condition", "antibiotic", "injection", "vbp"]


def csv_row(item):
    """A catalogue item as a row of national fields: chrgitm_lv 01/02/03 (甲/乙/丙), prices in fen,
    regional prices as division prefix:fen pairs joined by ';', flags 1/0."""
    flag = lambda key: "1" if item.get(key) else "0"
    return {
        "med_list_codg": item["code"], "list_type": item.get("listType", ""), "name": item["name"],
        "chrgitm_lv": {"A": "01", "B": "02", "C": "03"}.get(item.get("category", ""), ""),
        "selfpay_prop": item.get("selfPayRatio", ""), "pric_uplmt_amt": item.get("referencePrice", ""),
        "regional_prices": ";".join(f"{k}:{v}" for k, v in item.get("regionalPrices", {}).items()),
        "begndate": item.get("begndate", ""), "enddate": item.get("enddate", ""), "max_qty": item.get("maxQuantity", ""),
        "max_days": item.get("maxDays", ""), "chronic_condition": item.get("chronicCondition", ""),
        "antibiotic": flag("antibiotic"), "injection": flag("injection"), "vbp": flag("vbp"),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drugs", type=int, default=60_000)
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--consumables", type=int, default=50_000)
    parser.add_argument("--diseases", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--csv", action="store_true", help="write the records alone as CSV with the national field names")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    bundled = json.loads((Path(__file__).resolve().parent.parent / "Shared/MedicareDomain/Resources/zhejiang-2024.json").read_text())
    catalogue, seen = list(bundled["catalogue"]), {item["code"] for item in bundled["catalogue"]}
    for count, make in ((args.drugs, drug), (args.services, service), (args.consumables, consumable), (args.diseases, disease)):
        made = 0
        i = 0
        while made < count:
            i += 1
            item = make(rng, i)
            if item["code"] in seen:
                continue
            seen.add(item["code"])
            catalogue.append(item)
            made += 1
    if args.csv:
        out = csv.DictWriter(sys.stdout, fieldnames=CSV_COLUMNS, lineterminator="\n")
        out.writeheader()
        out.writerows(csv_row(item) for item in catalogue)
    else:
        json.dump({"policies": bundled["policies"], "catalogue": catalogue}, sys.stdout, ensure_ascii=False, separators=(",", ":"))
    print(f"generate-catalogue: {len(catalogue)} records", file=sys.stderr)


if __name__ == "__main__":
    main()
