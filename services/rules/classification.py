"""Classifies a complaint: category from its product and words, complexity from category,
amount and words, priority from both. Deterministic: the same complaint, the same answer."""

from __future__ import annotations

from decimal import Decimal

from events.base import Category, Complexity, Priority
from events.submission import ComplaintSubmission

VERSION = "classify-2026.2"

# (category, words that point to it), checked in order; first match wins.
CATEGORY_WORDS: list[tuple[Category, tuple[str, ...]]] = [
    ("fraud", ("fraud", "scam", "identity theft", "unauthori", "stolen", "诈骗", "盗刷", "冒用")),
    ("credit_card", ("credit card", "prepaid card", "信用卡", "card instalment")),
    ("wealth_management", ("wealth", "fund", "investment", "理财", "基金", "securities", "annuity")),
    (
        "credit_and_loan_repayment",
        (
            "loan",
            "mortgage",
            "repay",
            "debt",
            "credit reporting",
            "credit report",
            "贷款",
            "还款",
            "vehicle",
            "student",
            "payday",
            "consumer loan",
            "逾期",
        ),
    ),
    ("fees_and_charges", ("fee", "charge", "overdraft", "收费", "扣费", "interest rate", "手续费")),
    (
        "service_quality",
        (
            "service",
            "staff",
            "wait",
            "rude",
            "服务",
            "态度",
            "account",
            "transfer",
            "money transfer",
            "bank account",
            "checking",
            "savings",
        ),
    ),
]


# A product catalogue wins over words: exact product names (lower case) and their category.
# It holds the US CFPB product names, so the public CFPB data classifies as documented in
# docs/cfpb.md; a bank adds its own product names here.
PRODUCTS: dict[str, Category] = {
    "credit card": "credit_card",
    "credit card or prepaid card": "credit_card",
    "prepaid card": "credit_card",
    "mortgage": "credit_and_loan_repayment",
    "student loan": "credit_and_loan_repayment",
    "vehicle loan or lease": "credit_and_loan_repayment",
    "consumer loan": "credit_and_loan_repayment",
    "payday loan": "credit_and_loan_repayment",
    "payday loan, title loan, or personal loan": "credit_and_loan_repayment",
    "debt collection": "credit_and_loan_repayment",
    "checking or savings account": "fees_and_charges",
    "bank account or service": "fees_and_charges",
    "money transfers": "service_quality",
    "money transfer, virtual currency, or money service": "service_quality",
    "credit reporting": "other",
    "credit reporting, credit repair services, or other personal consumer reports": "other",
    "other financial service": "other",
}


def category(submission: ComplaintSubmission) -> tuple[Category, str]:
    known = PRODUCTS.get((submission.product or "").strip().lower())
    if known:
        return known, "product catalogue"
    text = " ".join(filter(None, [submission.product, submission.subject])).lower()
    for name, words in CATEGORY_WORDS:
        for word in words:
            if word in text:
                return name, f"'{word}' in product or subject"
    body = submission.description.lower()
    for name, words in CATEGORY_WORDS:
        for word in words:
            if word in body:
                return name, f"'{word}' in description"
    return "other", "no category words found"


def classify(submission: ComplaintSubmission) -> tuple[Category, Complexity, Priority, list[str]]:
    """(category, complexity, priority, reasons)."""
    cat, why = category(submission)
    amount = submission.amount_disputed.amount if submission.amount_disputed else Decimal(0)
    reasons = [f"category {cat}: {why}"]
    complexity: Complexity
    priority: Priority
    if cat == "fraud" or amount >= Decimal("500000"):
        complexity = "especially_complex"
        reasons.append("fraud or amount >= 500,000")
    elif cat in ("credit_and_loan_repayment", "credit_card", "wealth_management") or amount >= Decimal(
        "50000"
    ):
        complexity = "complex"
        reasons.append("credit, card or wealth matter, or amount >= 50,000")
    else:
        complexity = "simple"
        reasons.append("clear and simple")
    if cat == "fraud":
        priority = "urgent"
    elif complexity == "especially_complex" or amount >= Decimal("100000"):
        priority = "high"
    elif complexity == "complex":
        priority = "normal"
    else:
        priority = "low" if cat == "service_quality" else "normal"
    return cat, complexity, priority, reasons


def matter(category_name: str, submission: ComplaintSubmission) -> str:
    """What 'the same matter' means for repeat complaints: same category and product."""
    return f"{category_name}|{(submission.product or '').strip().lower()}"
