"""The one learning toolkit of talent and retention (needs the ``ml`` extra: numpy,
scikit-learn, LightGBM, openpyxl). Importing ``zhanli_shared`` never imports this package;
each module imports its heavy libraries itself.

Typical import-and-train path (CPU-bound: run it in ``asyncio.to_thread`` from a route or a
job, with a progress callback that stores the fraction for a status endpoint)::

    from zhanli_shared.ml.tabular import ColumnMapping, read_table, build_dataset
    from zhanli_shared.ml.training import TrainConfig, train
    from zhanli_shared.ml.registry import activation_decision
    from zhanli_shared.ml.card import model_card
    from zhanli_shared.ml.fairness import fairness_report, age_band

    raw = read_table(upload_bytes, filename="hr.csv")          # CSV utf-8/BOM/GBK, XLSX
    mapping = ColumnMapping(numeric=[...], categorical=[...], label="Attrition",
                            protected=["Gender", "Age"], id="EmployeeNumber")
    dataset = build_dataset(raw, mapping)      # Unprocessable(field=...) / per-row report
    result = train(dataset, TrainConfig(validation="stratified"), progress=cb)
    result.metrics["model"]["roc_auc"], result.metrics["baseline"]["brier"] ...
    decision = activation_decision(result.metrics)           # beats baseline and rules?
    version = await registry.add(session, "retention.exit_90d", result.model,
                                 metrics=result.metrics, card=card, training=...)
    if decision.activate: await registry.activate(session, name, version.version)

Uploads: ``read_table(bytes, filename=...)`` for a file in memory (multipart), or
``await read_table_stream(request.stream(), request.headers["content-type"])`` for a raw body
(the platform's streaming reader, as the directory's HRIS import). Training settings:
``TrainConfig()`` picks a small-data tree profile below 20,000 rows; ``validation="later"``
with ``Dataset.time`` (hire cohort) for "train on earlier cohorts, validate on later";
``Dataset.groups`` keeps a person's rows in one fold; ``monotone={"score": 1}``.
``result.champion()`` is the better of LightGBM and the logistic baseline on validation.

Scoring: ``model = TrainedModel.from_json(...)`` or ``await registry.load_active(...)``;
``model.predict_proba(model.spec.encode(rows_as_dicts))`` (or ``score_records``);
``model.explain(X, top=3)`` -> reasons up/down per row.

Modules:

- ``tabular``: ``read_table`` (bytes -> RawTable), ``records_table`` (dicts -> RawTable),
  ``ColumnMapping`` (pydantic; numeric, categorical, label | hire_date+exit_date+horizon_days,
  positive_values/negative_values, id, group, time, protected, proxies), ``build_dataset``
  -> ``Dataset`` (X float matrix with categorical codes, y, ``FeatureSpec``, ``ImportReport``),
  ``Dataset.from_arrays`` for features a service computed itself, ``Limits``.
- ``leakage``: ``check_feature_names`` (names that leak the outcome, protected attributes,
  HR-named proxies), ``data_leaks`` / ``refuse_data_leaks`` (univariate AUC ~1, populated
  only for one outcome).
- ``training``: ``TrainConfig``, ``train`` -> ``TrainResult`` (``model``, ``baseline``,
  ``metrics`` {"model", "model_uncalibrated", "baseline", "rules"}, ``validation``, ``oof``),
  ``TrainedModel`` (predict_proba, explain, contributions, importance, to_json/from_json),
  ``evaluate`` (ROC-AUC, PR-AUC, Brier, calibration table, top-k), ``concordance_index``,
  ``make_folds``, ``fit_platt``, ``risk_band``.
- ``registry``: ``define_model_tables(metadata)`` (table ``ml_model_versions``),
  ``ModelRegistry`` (add, get, versions, active, load, load_active, activate, rollback,
  reject), ``activation_decision``.
- ``card``: ``model_card``, ``card_markdown``.
- ``fairness``: ``fairness_report`` (four-fifths rule, unreliable small groups),
  ``age_band``, ``gender_group``, ``protected_groups(dataset.protected)``.
- ``survival``: ``person_periods`` (discrete-time hazard rows per person and week, censored
  people counted for the weeks seen), ``risk_within(hazard, days)`` (30/60/90-day risk from
  one weekly-hazard model).
- ``pipeline``: ``learn(dataset, name=..., intended_use=...)`` / ``learn_from_file(bytes,
  filename, mapping, ...)`` -> ``LearnOutcome`` (champion model, metrics, decision, fairness
  of its out-of-fold flags, card, training summary): everything but the registry writes.
- ``synthetic``: generators shaped like real exports (IBM-style attrition CSV, a GBK survey
  export, an XLSX of past candidates) with noisy, partly hidden causes, for tests/demo/bench.
"""
