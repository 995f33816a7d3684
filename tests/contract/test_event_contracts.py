"""Contract tests: every event schema is pinned, versioned and round-trips its envelope."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from zhanli_shared.db import new_metadata
from zhanli_shared.events.catalog import (
    ASYNCAPI_PATH,
    SCHEMA_DIR,
    asyncapi,
    contract_schema,
    render,
)
from zhanli_shared.events.consumer import decode
from zhanli_shared.events.contracts import all_contracts
from zhanli_shared.events.contracts.audit import AuditRecorded
from zhanli_shared.events.contracts.commission import (
    CommissionCalculated,
    PayoutBatchCreated,
    PayoutItem,
    StatementStatusChanged,
)
from zhanli_shared.events.contracts.directory import (
    EmployeeSeparated,
    EmployeeUpserted,
    OrgUnitUpserted,
    SeparationReason,
)
from zhanli_shared.events.contracts.gateway import RequestAudited
from zhanli_shared.events.contracts.kpi import (
    KpiPaceAlert,
    KpiScoreUpdated,
    PaceCause,
    PerformanceGrowthMeasured,
    TrainingRecommended,
)
from zhanli_shared.events.contracts.learning import (
    LearningReminder,
    MentorRated,
    MentorTaskCompleted,
    PathGenerated,
    SkillImprovementMeasured,
    TrainingProgressed,
)
from zhanli_shared.events.contracts.retention import RiskAlertRaised, RiskFactor
from zhanli_shared.events.contracts.sales import (
    DealCancelled,
    DealRecorded,
    PaymentReceived,
    RefundIssued,
    SplitShare,
)
from zhanli_shared.events.contracts.talent import (
    CandidateHired,
    MatchPool,
    PipelineReminderDue,
    ReminderKind,
)
from zhanli_shared.events.outbox import Publisher, define_event_tables

NOW = dt.datetime(2026, 11, 23, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
SAMPLES = {
    AuditRecorded: AuditRecorded(
        audit_id="a1b2c3",
        occurred_at=NOW,
        actor_id="E9",
        actor_kind="user",
        roles=["finance"],
        action="sales.payment.recorded",
        entity_type="payment",
        entity_id="P1",
        before={"deal_id": "D1", "deal_collected": "0.00"},
        after={"deal_id": "D1", "amount": "500.25", "deal_collected": "500.25"},
        request_id="r1",
        source_ip="10.0.0.7",
        service="commission",
    ),
    RequestAudited: RequestAudited(
        audit_id="d4e5f6",
        occurred_at=NOW,
        outcome="denied",
        actor_id="E9",
        actor_kind="user",
        roles=["salesperson"],
        method="GET",
        path="/api/v1/audit/entries",
        status=403,
        request_id="r2",
        source_ip="10.0.0.8",
    ),
    OrgUnitUpserted: OrgUnitUpserted(
        org_unit_id="B1", name="华东分公司", kind="branch", parent_id="G1", path=["G1", "B1"]
    ),
    EmployeeUpserted: EmployeeUpserted(
        employee_id="E1",
        name="王伟",
        org_unit_id="B1",
        org_path=["G1", "B1"],
        job_role="salesperson",
    ),
    DealRecorded: DealRecorded(
        deal_id="D1",
        salesperson_id="E1",
        customer_name="上海远航物流",
        amount=Decimal("1000.50"),
        currency="CNY",
        closed_at=NOW,
        margin=Decimal("120.00"),
        splits=[
            SplitShare(salesperson_id="E1", share=Decimal("60")),
            SplitShare(salesperson_id="E2", share=Decimal("40")),
        ],
    ),
    PaymentReceived: PaymentReceived(
        payment_id="P1",
        deal_id="D1",
        salesperson_id="E1",
        amount=Decimal("500.25"),
        currency="CNY",
        paid_at=NOW,
    ),
    CommissionCalculated: CommissionCalculated(
        commission_id="C1",
        salesperson_id="E1",
        deal_id="D1",
        payment_id="P1",
        period="2026-11",
        basis_amount=Decimal("500.25"),
        rate=Decimal("0.03"),
        delta=Decimal("15.01"),
        period_total=Decimal("15.01"),
        currency="CNY",
        rule="flat_rate_on_collected",
        calculated_at=NOW,
    ),
    StatementStatusChanged: StatementStatusChanged(
        salesperson_id="E1",
        period="2026-10",
        from_status="closed",
        status="closed",
        action="reject",
        total=Decimal("3200.50"),
        draw_balance=Decimal("1800.00"),
        currency="CNY",
        changed_by="F1",
        changed_at=NOW,
        reason="缺少退款 refund missing",
    ),
    PayoutBatchCreated: PayoutBatchCreated(
        batch_id="PB-2026-10-1",
        period="2026-10",
        currency="CNY",
        total_amount=Decimal("3200.50"),
        items=[
            PayoutItem(
                salesperson_id="E1",
                amount=Decimal("3200.50"),
                statement_total=Decimal("3400.50"),
                carried_in=Decimal("-200.00"),
                carried_out=Decimal("0.00"),
            )
        ],
        created_by="F1",
        created_at=NOW,
    ),
    RefundIssued: RefundIssued(
        refund_id="R1",
        deal_id="D1",
        salesperson_id="E1",
        amount=Decimal("200.00"),
        currency="CNY",
        refunded_at=NOW,
        reason="退货 returned goods",
    ),
    DealCancelled: DealCancelled(
        deal_id="D1", salesperson_id="E1", cancelled_at=NOW, unpaid_amount=Decimal("300.50")
    ),
    KpiScoreUpdated: KpiScoreUpdated(
        employee_id="E1", period="2026-11", score=Decimal("0.92"), calculated_at=NOW
    ),
    KpiPaceAlert: KpiPaceAlert(
        employee_id="E1",
        manager_id="M1",
        period="2026-11",
        indicator="revenue",
        completion=Decimal("0.30"),
        pace=Decimal("0.50"),
        threshold=Decimal("0.8"),
        causes=[
            PaceCause(
                indicator="response_time",
                value=Decimal("48"),
                target=Decimal("30"),
                owner_role="customer_service",
            )
        ],
        notify_roles=["customer_service"],
        message="销售完成率落后于进度 / sales behind pace",
        raised_at=NOW,
    ),
    PerformanceGrowthMeasured: PerformanceGrowthMeasured(
        employee_id="E1", day=NOW.date(), growth=Decimal("0.06"), measured_at=NOW
    ),
    SkillImprovementMeasured: SkillImprovementMeasured(
        employee_id="E1", week="2026-W47", improvement=Decimal("0.12"), measured_at=NOW
    ),
    PathGenerated: PathGenerated(
        employee_id="E1",
        path_id="P1",
        job_family="salesperson",
        courses=6,
        total_hours=Decimal("21.5"),
        weekly_hours=Decimal("5"),
        starts_on=NOW.date(),
        probation_ends_on=NOW.date(),
        fits_in_probation=True,
        source="directory",
        generated_at=NOW,
    ),
    TrainingProgressed: TrainingProgressed(
        employee_id="E1",
        path_id="P1",
        course_id="C1",
        status="completed",
        quiz_score=88,
        completion_rate=Decimal("0.5"),
        completed_courses=3,
        total_courses=6,
        overdue_count=0,
        occurred_at=NOW,
    ),
    LearningReminder: LearningReminder(
        recipient_id="M1",
        about_employee_id="E1",
        kind="course_overdue",
        stage="escalate",
        subject_id="I1",
        due_on=NOW.date(),
        text_zh="课程逾期",
        text_en="Course overdue",
        occurred_at=NOW,
    ),
    MentorRated: MentorRated(
        mentor_id="M1",
        mentee_id="E1",
        week="2026-W47",
        rating=6,
        average=Decimal("6.5"),
        flagged=True,
        rated_at=NOW,
    ),
    MentorTaskCompleted: MentorTaskCompleted(
        mentor_id="M1",
        mentee_id="E1",
        task_id="T1",
        week="2026-W47",
        kind="client_visit",
        task_completion_rate=Decimal("0.3333"),
        on_time=True,
        occurred_at=NOW,
    ),
    TrainingRecommended: TrainingRecommended(
        employee_id="E1",
        indicator="conversion_rate",
        period="2026-11",
        course_id="C1",
        reason="转化率偏低",
        recommended_at=NOW,
    ),
    CandidateHired: CandidateHired(
        employee_id="E2031",
        candidate_id="c1",
        application_id="a1",
        requisition_id="r1",
        name="张伟",
        org_unit_id="T1",
        manager_id="M1",
        job_role="salesperson",
        job_family="freight_sales",
        hired_on=dt.date(2026, 12, 7),
        match_score=Decimal("84.5"),
        pool=MatchPool.FOCUS,
        profile_version=3,
        hired_at=NOW,
    ),
    PipelineReminderDue: PipelineReminderDue(
        reminder_id="rm1",
        kind=ReminderKind.OFFER_UNCONFIRMED,
        application_id="a1",
        requisition_id="r1",
        candidate_id="c1",
        recipient_ids=["M1", "rec1"],
        due_since=NOW,
        message="录用通知 3 天内未确认",
    ),
    EmployeeSeparated: EmployeeSeparated(
        employee_id="E2031",
        separated_on=dt.date(2027, 2, 1),
        reason=SeparationReason.FAILED_PROBATION,
        reason_detail="能力不匹配",
        hired_on=dt.date(2026, 12, 7),
        job_role="salesperson",
        org_path=["G1", "T1"],
        recorded_at=NOW,
    ),
    RiskAlertRaised: RiskAlertRaised(
        alert_id="al-1",
        employee_id="E2031",
        manager_id="E0002",
        org_path=["G1", "T1"],
        band="high",
        previous_band="medium",
        probability_90d=Decimal("0.52"),
        basis="model",
        model_version=3,
        factors=[
            RiskFactor(
                feature="mentor_rating",
                label_en="Mentor rating",
                label_zh="导师评分",
                value=Decimal("5.5"),
            )
        ],
        rules_fired=["mentor_rating"],
        suggested_interventions=["mentor_change"],
        raised_at=NOW,
    ),
}


def test_every_contract_has_a_sample() -> None:
    assert set(all_contracts().values()) == set(SAMPLES)


@pytest.mark.parametrize("topic", sorted(all_contracts()))
def test_schema_is_pinned(topic: str) -> None:
    path = SCHEMA_DIR / f"{topic}.json"
    assert path.exists(), f"{path.name} missing: run python -m zhanli_shared.events.catalog"
    assert path.read_text() == render(contract_schema(topic)), (
        f"The schema of {topic} changed. A published contract never changes: add a new "
        "version (a new model with version = N+1) and keep the old one until consumers move."
    )


def test_no_orphan_schema_files() -> None:
    files = {p.name.removesuffix(".json") for p in SCHEMA_DIR.glob("*.json")}
    assert files == set(all_contracts())


def test_asyncapi_document_is_current() -> None:
    assert json.loads(ASYNCAPI_PATH.read_text()) == json.loads(render(asyncapi()))
    doc = asyncapi()
    assert {c["address"] for c in doc["channels"].values()} == set(all_contracts())


@pytest.mark.parametrize("model", list(SAMPLES), ids=lambda m: m.topic_name())
def test_envelope_round_trip(model) -> None:
    import types

    event = SAMPLES[model]
    topic = model.topic_name()
    assert topic.startswith("zhanli.") and topic.rsplit(".", 1)[1] == f"v{model.version}"
    assert event.partition_key()
    envelope = Publisher(define_event_tables(new_metadata()), "zhanli/test").envelope(event)
    record = types.SimpleNamespace(topic=topic, value=envelope.to_json(), key=None)
    parsed_envelope, payload = decode(record)
    assert parsed_envelope.id == envelope.id and parsed_envelope.type == topic
    assert payload == event
    data = json.loads(envelope.to_json())["data"]
    for field, value in data.items():
        assert not isinstance(value, float), f"{field} travels as a float"


def test_contracts_refuse_unknown_fields() -> None:
    from pydantic import ValidationError

    data = SAMPLES[PaymentReceived].model_dump(mode="json") | {"bonus": "1"}
    with pytest.raises(ValidationError):
        PaymentReceived.model_validate(data)
