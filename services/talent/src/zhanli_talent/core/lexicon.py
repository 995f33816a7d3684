"""The sales-domain vocabulary: jieba's user dictionary, the synonym table and stopwords.

Every synonym group maps its variants (Chinese and English) to one canonical term, so a
resume saying 拓客 and a profile asking for 客户开发 meet on the same token. The canonical
terms are also the skills the keyword extraction reports. The stopwords are the standard
Chinese list shipped with bm25s (841 words, the widely used merged list) plus English,
minus the words that carry meaning in sales (增长, 发展 ...); the list is read from
``stopwords.txt`` beside this module (a copy, so importing the tokenizer stays light).
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

# canonical term -> variants (lower-case for English). Variants with spaces are phrases
# matched in the text before segmentation.
SYNONYMS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {
        "客户开发": (
            "拓客",
            "开拓客户",
            "开发客户",
            "客户拓展",
            "拓展客户",
            "获客",
            "新客开发",
            "陌拜",
            "business development",
            "prospecting",
            "lead generation",
            "bd",
        ),
        "业绩增长": (
            "业绩提升",
            "销售增长",
            "营收增长",
            "销售额增长",
            "revenue growth",
            "sales growth",
        ),
        "货代销售": (
            "货代销售经验",
            "国际货代销售",
            "物流销售",
            "海运销售",
            "空运销售",
            "freight forwarding sales",
            "freight sales",
            "logistics sales",
        ),
        "货代": ("国际货代", "货运代理", "freight forwarding", "forwarder"),
        "客户资源": ("客户积累", "人脉资源", "客户储备", "client resources", "customer base"),
        "订单转化": (
            "订单转化能力",
            "成单转化",
            "转化率",
            "成交转化",
            "线索转化",
            "conversion rate",
            "conversion",
        ),
        "大客户销售": (
            "ka销售",
            "大客户管理",
            "大客户经理",
            "key account management",
            "key account",
            "kam",
        ),
        "商务谈判": ("谈判", "议价", "谈判能力", "negotiation", "negotiating"),
        "客户维护": (
            "客户关系维护",
            "客户关系管理",
            "维护客户",
            "客户关系",
            "account management",
            "customer relationship",
        ),
        "回款": ("收款", "催款", "回款管理", "collections", "payment collection"),
        "复购": ("复购率", "续约", "续费", "回购", "repeat purchase", "renewal", "renewals"),
        "抗压能力": ("抗压", "承压", "抗压性", "能承受压力", "stress resilience", "resilience"),
        "学习能力": ("快速学习", "学习能力强", "learning ability", "fast learner", "quick learner"),
        "沟通能力": ("沟通表达", "表达能力", "沟通技巧", "communication skills", "communication"),
        "倾听": ("善于倾听", "倾听能力", "listening", "active listening"),
        "需求挖掘": ("需求分析", "挖掘需求", "客户需求分析", "needs analysis", "discovery"),
        "数据分析": ("数据驱动", "用数据说话", "data analysis", "analytics"),
        "团队合作": ("团队协作", "跨部门协作", "teamwork", "collaboration"),
        "解决方案销售": (
            "方案销售",
            "顾问式销售",
            "solution selling",
            "consultative selling",
        ),
        "saas销售": ("软件销售", "saas sales", "software sales"),
        "电话销售": ("电销", "telesales", "cold calling", "cold call"),
        "业绩达成": (
            "完成业绩",
            "达成目标",
            "超额完成",
            "完成指标",
            "quota attainment",
            "exceeded quota",
            "quota",
        ),
        "销售冠军": ("销冠", "top sales", "top performer", "president's club"),
        "crm": ("salesforce", "crm系统", "客户管理系统", "hubspot"),
        "招投标": ("投标", "招标", "bidding", "tender"),
        "跨境电商": ("跨境", "cross-border e-commerce", "cross border"),
        "外贸": ("国际贸易", "foreign trade", "international trade"),
        "b2b": ("b2b销售", "企业销售", "enterprise sales"),
    }
)

# Further words of the domain jieba must keep whole (skills without synonyms, job words).
DOMAIN_TERMS: tuple[str, ...] = (
    "销售经理",
    "销售代表",
    "客户经理",
    "销售漏斗",
    "销售目标",
    "渠道拓展",
    "渠道销售",
    "地推",
    "报关",
    "海运",
    "空运",
    "供应链",
    "物流",
    "方案演示",
    "产品演示",
    "签单",
    "成单",
    "跟进客户",
    "客户跟进",
    "复盘",
    "复盘报告",
    "拜访客户",
    "客户拜访",
    "目标导向",
    "执行力",
    "责任心",
    "自驱力",
    "英语",
    "雅思",
    "本科",
    "硕士",
    "大专",
    "市场营销",
    "工商管理",
)

# Stopwords that are sales meaning, never dropped.
_KEEP = frozenset({"增长", "发展", "开发", "管理", "达到", "提高", "成功", "完成", "合作", "转化"})

_LISTED = (Path(__file__).with_name("stopwords.txt")).read_text(encoding="utf-8").splitlines()
STOPWORDS: frozenset[str] = frozenset(
    w.strip().lower() for w in _LISTED if w.strip() and not w.startswith("#") and w not in _KEEP
) | frozenset({"负责", "工作", "经验", "公司", "能力", "具有", "相关", "良好", "以上"})


def canonical_map() -> dict[str, str]:
    """Every variant (and canonical term) -> its canonical term, lower-cased."""
    out: dict[str, str] = {}
    for canonical, variants in SYNONYMS.items():
        out[canonical.lower()] = canonical
        for v in variants:
            out[v.lower()] = canonical
    return out


def phrases() -> list[tuple[str, str]]:
    """Multi-word variants (English phrases) -> canonical, longest first."""
    pairs = [
        (v.lower(), canonical)
        for canonical, variants in SYNONYMS.items()
        for v in variants
        if " " in v or "-" in v or "'" in v
    ]
    return sorted(pairs, key=lambda p: -len(p[0]))


def skills() -> frozenset[str]:
    """The skills keyword extraction reports: canonical synonym terms and domain terms."""
    return frozenset(SYNONYMS) | frozenset(DOMAIN_TERMS)
