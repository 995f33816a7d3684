"""Talent bench: ``talent.rank_10k_s`` (score and rank 10,000 tokenised candidates against
one profile, with the plain keyword-overlap ranking as baseline), ``talent.tokenize_docs_per_s``
(1,000 Chinese resumes of ~2,000 characters, GBK bytes to tokens and skills, against plain
jieba segmentation) and ``talent.match_auc`` (an honest generator: outcomes driven by
partly hidden, noisy causes; the match score with its learned component trained on earlier
requisitions, judged on later ones, against keyword-only and a logistic regression on the
same features). Pure CPU: no database, no HTTP."""

from __future__ import annotations

import math
import pathlib
import random
import time

import numpy as np
from bench_common import Result, phase, say

from zhanli_talent.core import extraction, scoring
from zhanli_talent.core.scoring import Candidate, KeywordSpec, ProfileSpec, TraitSpec
from zhanli_talent.core.text import analyzer

NAME = "talent"
CANDIDATES = 10_000
DOCS = 1_000
KEYWORDS = [
    "客户开发",
    "货代销售",
    "业绩增长",
    "客户资源",
    "订单转化",
    "大客户销售",
    "商务谈判",
    "倾听",
]
PROFILE = ProfileSpec(
    keywords=[KeywordSpec(k, w) for k, w in zip(KEYWORDS, [2, 2, 1, 1, 1, 1, 1, 1], strict=True)],
    traits=[
        TraitSpec("sales_simulation", 2, threshold=70, tolerance=30),
        TraitSpec("stress_resilience", 1, threshold=70, tolerance=30),
        TraitSpec("interview.listening", 1, threshold=4.5, tolerance=2),
    ],
)
SKILL_PHRASES = [
    "擅长拓客和开拓客户",
    "负责货代销售",
    "年度业绩增长显著",
    "积累了丰富的客户资源",
    "订单转化能力强",
    "负责大客户销售",
    "多次主导商务谈判",
    "善于倾听客户需求",
]
FILLER = [
    "负责日常工作安排与团队沟通，按时提交周报。",
    "参与公司年度会议的组织与协调工作。",
    "熟练使用办公软件，具备良好的文字表达能力。",
    "在校期间担任学生会干部，组织多项活动。",
    "热爱运动，性格开朗，乐于与人交流。",
    "参与产品培训，了解行业基本知识。",
    "协助部门经理完成季度计划的制定与跟进。",
    "处理客户来电咨询，记录并反馈问题。",
]


def resume(rng: random.Random, ability: float, chars: int = 2000) -> str:
    parts = [f"个人简历\n姓名：候选人{rng.randrange(10_000)}\n工作经历："]
    p = 1 / (1 + math.exp(-(ability - 0.2)))
    size = 0
    while size < chars:
        if rng.random() < 0.25 * p:
            s = rng.choice(SKILL_PHRASES) + "。"
        else:
            s = rng.choice(FILLER)
        parts.append(s)
        size += len(s)
    return "".join(parts)


def bench_tokenize(rng: random.Random) -> list[Result]:
    phase(f"talent: tokenise {DOCS:,} Chinese resumes (~2,000 characters, GBK)")
    docs = [resume(rng, rng.gauss(0, 1)).encode("gbk") for _ in range(DOCS)]
    a = analyzer()
    chars = sum(len(d.decode("gbk")) for d in docs)
    t0 = time.perf_counter()
    skills = 0
    for data in docs:
        text = extraction.extract(data, "txt").text
        skills += len(a.keywords(text).skills)
    rate = DOCS / (time.perf_counter() - t0)
    say(f"pipeline: {rate:,.0f} docs/s")
    import jieba

    plain = jieba.Tokenizer()
    plain.initialize()
    texts = [d.decode("gbk") for d in docs[:200]]  # a sample: the same documents' rate
    t0 = time.perf_counter()
    for text in texts:
        plain.lcut(text)
    base_rate = len(texts) / (time.perf_counter() - t0)
    say(f"plain jieba.lcut: {base_rate:,.0f} docs/s")
    baseline = Result(
        "talent.jieba_plain_docs_per_s",
        base_rate,
        "docs/s",
        True,
        notes="jieba.lcut on the decoded text alone (no dictionary, synonyms, stopwords, "
        "skills, decoding), the first 200 of the same resumes",
    )
    main = Result(
        "talent.tokenize_docs_per_s",
        rate,
        "docs/s",
        True,
        notes=f"{DOCS:,} resumes, {chars / DOCS:,.0f} characters each on average, GBK bytes -> "
        "decode (encoding detection) -> NFKC, synonym phrases, jieba with the sales "
        f"dictionary, stopwords -> counts and skills ({skills / DOCS:.1f} skills a resume); "
        "one round (jieba's segmentation is nearly all of the time)",
    ).with_baseline(baseline)
    return [main, baseline]


def tokenised_candidates(rng: random.Random, n: int) -> list[Candidate]:
    vocab = [f"词{i}" for i in range(3000)]
    out = []
    for _ in range(n):
        ability = rng.gauss(0, 1)
        p = 1 / (1 + math.exp(-(ability - 0.2)))
        counts: dict[str, int] = {}
        for w in rng.sample(vocab, 150):
            counts[w] = rng.randint(1, 4)
        for k in KEYWORDS:
            if rng.random() < 0.5 * p:
                counts[k] = rng.randint(1, 4)
        traits = {
            "sales_simulation": min(100.0, max(0.0, 65 + 10 * ability + rng.gauss(0, 10))),
            "interview.listening": min(5.0, max(1.0, 3.6 + 0.4 * ability + rng.gauss(0, 0.5))),
        }
        if rng.random() < 0.7:
            traits["stress_resilience"] = min(100.0, max(0.0, rng.gauss(65, 12)))
        out.append(Candidate(counts, sum(counts.values()), traits))
    return out


def bench_rank(rng: random.Random) -> list[Result]:
    phase(f"talent: score and rank {CANDIDATES:,} tokenised candidates")
    cands = tokenised_candidates(rng, CANDIDATES)
    rounds, base_rounds = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        scores = scoring.score_many(PROFILE, cands)
        order = np.argsort(-scores, kind="stable")
        page = [scoring.score(PROFILE, cands[i]) for i in order[:50]]  # the page's reasons
        assert page[0].score == scores[order[0]]
        rounds.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        overlap = scoring.keyword_overlap(KEYWORDS, cands)
        np.argsort(-overlap, kind="stable")
        base_rounds.append(time.perf_counter() - t0)
    say(
        f"match score: {min(rounds) * 1000:.0f} ms; keyword overlap {min(base_rounds) * 1000:.0f} ms"
    )
    t0 = time.perf_counter()
    explained = [scoring.score(PROFILE, c) for c in cands]
    full_s = time.perf_counter() - t0
    assert all(
        abs(e.score - s) <= 0.1 + 1e-9 for e, s in zip(explained[:500], scores[:500], strict=True)
    )
    pools = {
        p: sum(1 for e in explained if e.pool.value == p)
        for p in ("focus", "review", "elimination")
    }
    baseline = Result(
        "talent.keyword_overlap_rank_10k_s",
        min(base_rounds),
        "s",
        False,
        notes="share of the profile's keywords mentioned at all, then sorted",
    )
    main = Result(
        "talent.rank_10k_s",
        min(rounds),
        "s",
        False,
        notes=f"{CANDIDATES:,} candidates (~150 distinct tokens each), {len(KEYWORDS)} keywords "
        "(BM25 saturation and length normalisation) + 3 traits, vectorised, sorted, the first "
        f"page of 50 explained; target <= 1 s. Every candidate explained one by one (the "
        f"re-scoring path): {full_s:.2f} s. Pools: {pools}; best of 3",
    ).with_baseline(baseline)
    return [main, baseline]


def bench_auc(rng: random.Random) -> list[Result]:
    """Requisitions in time order; candidates' outcome (hired and retained) is driven by
    ability (partly visible through the assessments and resume mentions) and grit (hidden,
    weakly visible through stress resilience), plus noise. Keyword stuffers mention the
    words without the ability."""
    from sklearn.metrics import roc_auc_score

    from zhanli_shared.ml.tabular import Dataset, Feature, FeatureSpec
    from zhanli_shared.ml.training import TrainConfig, train

    phase("talent: match AUC on later requisitions")
    requisitions, per_req = 60, 150
    rows, y, reqs = [], [], []
    cands: list[Candidate] = []
    for r in range(requisitions):
        for _ in range(per_req):
            ability, grit = rng.gauss(0, 1), rng.gauss(0, 1)
            stuffer = rng.random() < 0.1
            p = 1 / (1 + math.exp(-(ability - 0.2)))
            counts = {f"词{rng.randrange(3000)}": 1 for _ in range(150)}
            for k in KEYWORDS:
                if rng.random() < (0.8 if stuffer else 0.45 * p):
                    counts[k] = rng.randint(1, 3)
            sim = min(100.0, max(0.0, 62 + 8 * ability + 4 * grit + rng.gauss(0, 10)))
            stress = min(100.0, max(0.0, 62 + 6 * grit + rng.gauss(0, 12)))
            listen = min(5.0, max(1.0, 3.6 + 0.35 * ability + rng.gauss(0, 0.5)))
            years = min(20.0, rng.expovariate(1 / 3))
            logit = -1.2 + 0.8 * ability + 0.8 * grit + 0.1 * min(years, 6) + rng.gauss(0, 0.7)
            y.append(int(rng.random() < 1 / (1 + math.exp(-logit))))
            c = Candidate(
                counts,
                sum(counts.values()),
                {
                    "sales_simulation": sim,
                    "stress_resilience": stress,
                    "interview.listening": listen,
                },
            )
            cands.append(c)
            kw_fit = sum(
                k.weight
                * scoring.keyword_fit(c.counts.get(k.term, 0), c.length, PROFILE.avg_doc_len)
                for k in PROFILE.keywords
            ) / sum(k.weight for k in PROFILE.keywords)
            rows.append([kw_fit, sim, stress, listen, years])
            reqs.append(r)
    X, labels, req_ids = np.array(rows), np.array(y), np.array(reqs)
    train_mask = req_ids < 40
    spec = FeatureSpec(
        tuple(
            Feature(n, "numeric")
            for n in (
                "keyword_fit",
                "sales_simulation",
                "stress_resilience",
                "interview_listening",
                "years",
            )
        )
    )
    dataset = Dataset.from_arrays(
        spec, X[train_mask], labels[train_mask], time=req_ids[train_mask].astype(float)
    )
    result = train(
        dataset,
        TrainConfig(
            validation="later",
            monotone={
                "keyword_fit": 1,
                "sales_simulation": 1,
                "stress_resilience": 1,
                "interview_listening": 1,
            },
        ),
    )
    champion, model = result.champion()
    test = ~train_mask
    p = model.predict_proba(X[test])
    blended = ProfileSpec(PROFILE.keywords, PROFILE.traits, learned_weight=0.5)
    test_cands = [c for c, t in zip(cands, test, strict=True) if t]
    rule = scoring.score_many(PROFILE, test_cands)
    match = scoring.score_many(blended, test_cands, [float(v) for v in p])
    keyword = scoring.keyword_overlap(KEYWORDS, test_cands)
    logistic = result.baseline.predict_proba(X[test])
    auc = {
        "match": roc_auc_score(labels[test], match),
        "rules": roc_auc_score(labels[test], rule),
        "keyword": roc_auc_score(labels[test], keyword),
        "logistic": roc_auc_score(labels[test], logistic),
        "learned": roc_auc_score(labels[test], p),
    }
    say(", ".join(f"{k} {v:.3f}" for k, v in auc.items()))
    kw = Result(
        "talent.keyword_only_auc",
        auc["keyword"],
        "AUC",
        True,
        notes="share of profile keywords mentioned (the plain resume screen)",
    )
    lr = Result(
        "talent.logistic_auc",
        auc["logistic"],
        "AUC",
        True,
        notes="logistic regression on the same five features, trained on the same "
        "earlier requisitions (the toolkit's baseline)",
    )
    main = Result(
        "talent.match_auc",
        auc["match"],
        "AUC",
        True,
        notes=f"{requisitions} requisitions x {per_req} candidates; trained on the first 40, "
        f"judged on the last 20 (positive rate {labels[test].mean():.0%}); outcome = hired and "
        "retained, from ability (seen through noisy assessments and resume mentions), grit "
        "(hidden; weakly seen through stress resilience), experience and noise, 10% keyword "
        f"stuffers. Rules alone {auc['rules']:.3f}, learned component alone ({champion}) "
        f"{auc['learned']:.3f}, blended 50/50 {auc['match']:.3f}; logistic on the same features "
        f"{auc['logistic']:.3f}; keyword-only {auc['keyword']:.3f}. Well below 1 by design: "
        "half the cause is hidden.",
    ).with_baseline(kw)
    return [main, kw, lr]


def run(var: pathlib.Path, pg_url: str | None) -> list[Result]:
    rng = random.Random(20261205)
    return [*bench_rank(rng), *bench_tokenize(rng), *bench_auc(rng)]
