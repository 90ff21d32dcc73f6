// Package report computes the KPI report of a period from the audit log
// alone: the spec's technical and business KPIs (drift detection time,
// MTTD, MTTH, MTTR, auto-heal success rate, false-positive rate, manual
// interventions against automatic heals, configuration compliance), per
// client and overall, and renders it as JSON, CSV or HTML with inline SVG
// charts.
//
// Nothing here reads the live tables: a Builder folds audit entries in
// chain order, and the report names the chain head (seq and hash) it read
// up to, so that an auditor can check the chain with
// "blackwell audit verify --expect-head SEQ:HASH" and recompute every
// figure from "blackwell audit export". docs/REPORTS.md defines each
// figure.
//
// The definitions, in short (a drift occurrence is one drift_detected
// entry and what follows it for the same drift id, until drift_resolved):
//
//   - An occurrence belongs to the period when its drift_detected entry's
//     timestamp does. Its onset is first_seen in that entry (the first
//     observation of the drift).
//   - Detection time: detected - onset. MTTD is its mean; "drift detection
//     time" is its 95th percentile.
//   - Time to heal (MTTH): the first heal_succeeded entry of the occurrence
//   - onset. Time to recovery (MTTR): drift_resolved - onset, however
//     the drift ended.
//   - Auto-heal success rate: heal_succeeded / (heal_succeeded +
//     heal_failed) entries in the period: each heal attempt ends in
//     exactly one of them.
//   - False-positive rate: occurrences of the period acknowledged with
//     reason false_positive / occurrences of the period.
//   - Manual interventions: drift_acknowledged, approval_granted,
//     approval_rejected and rollback entries in the period. Automatic
//     heals: heal_succeeded entries without an approval. Automation rate:
//     automatic / (automatic + manual).
//   - Configuration compliance: the share of stack-time in the period with
//     no open drift. A stack exists from its first audit entry to its
//     stack_deleted entry; a drift is open from its onset to its
//     drift_resolved entry (or the end of the period); an occurrence
//     acknowledged as a false positive does not count against it.
//
// Availability and reconciliation (pass) time are not in the audit log:
// probes and passes without drift write no entry. The report says so
// (Report.NotInAuditLog) instead of estimating them.
package report
