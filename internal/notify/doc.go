// Package notify announces drift: the notification channels (Slack,
// email, PagerDuty, signed CloudEvents webhooks, NATS JetStream), the noise
// control that decides what is worth a message, and the dispatcher that
// delivers messages without letting one receiver slow another or the
// reconcile loop.
//
// # Flow
//
//	reconcile pass --audit entries, in its commit--> audit log
//	                                                     |
//	Feed.Poll (from its durable cursor) <----------------+
//	    |  Tracker / Step (noise control, pure)
//	    v
//	[]Message --> Dispatcher.Plan: per route Select, threshold, Filter, RateGate
//	    |
//	    v
//	one commit: cursor, noise states, deliveries (the outbox)
//	    |
//	    v
//	Dispatcher.Enqueue: the channel's bounded queue
//	    |
//	one worker per channel: Send, retry, Outbox.Done
//
// # Messages
//
// A Message is the spec's drift event JSON (client_id, stack_id,
// drift_type, expected, observed, severity, timestamp, auto_heal_attempted,
// reconciliation_id) plus drift_id, code, component, kind (detected,
// reminder, escalated, resolved, digest), a dashboard link and an
// idempotency key "<drift id>:<kind>:<sequence>" that is the same for every
// delivery attempt on every channel: it is the webhook-id and CloudEvent id
// of a webhook, the Nats-Msg-Id on NATS (JetStream drops the duplicate), the
// Message-ID of a mail, and shown in Slack. PagerDuty dedupes on the drift
// id instead, so a drift is one incident from trigger to resolve.
//
// # Noise control
//
// Step is a pure function of a drift's DriftState, an Event and the time:
// one detected message on first confirmation; repeats make none; a reminder
// every NoisePolicy.ReminderInterval while open and unacknowledged;
// escalated (severity one step up, so that the next severity's channels
// hear it) after every EscalateAfterFailedHeals failed heals or
// EscalateAfter open, or when the drift's own severity rises; one resolved
// message when it clears. Acknowledgement stops reminders and escalation
// until the drift resolves. Tracker keeps one DriftState per drift id; the
// states are plain values, which the Feed commits with its cursor and
// restores when it loads, so a restart does not announce open drifts
// again.
//
// Each channel has a RateGate (golang.org/x/time/rate, time passed in):
// detected, reminder and escalated messages spend a token; what finds none
// is held and summarised per client in one digest message at most every
// DigestInterval. Resolved messages and digests are never held, so an
// incident opened on a receiver is always closed.
//
// # Dispatcher
//
// Routes pair a Channel with a severity threshold and a rate limit;
// DispatcherOptions.Select picks the routes of the policy that applies to a
// message's client and stack. Every channel has its own bounded queue and
// worker, and queueing never blocks: what a full queue cannot take stays
// pending in the durable outbox for the next Requeue (a dispatcher that is
// not Durable drops it instead, with the "dropped" result and a
// rate-limited log line). A worker retries RetryableErrors with capped
// exponential backoff (base*2^(n-1), cap), waiting at least the receiver's
// Retry-After, up to MaxAttempts; a PermanentError fails at once. Outcomes are counted in
// blackwell_notifications_total{channel,result} with result sent, retried,
// failed, dropped or suppressed, every series created at 0 when the
// dispatcher is built.
//
// PlanFromConfig turns a configuration's NotificationChannels and the
// policies' notifications.channels into routes (with DefaultRateLimit per
// type) and the Select function.
//
// Deliveries (one message for one channel, id "<channel>/<idempotency
// key>") pass through an Outbox (Add, idempotent; Pending; Done): Start
// re-queues what is pending, and a delivery already queued in this process
// is not queued twice. Delivery is at least once; receivers recognise a
// redelivery by the idempotency key. MemoryOutbox keeps nothing across a
// restart; StoreOutbox is the durable one (see Feed).
//
// # Durable delivery: Feed
//
// A reconcile pass writes its drift_detected and drift_resolved audit
// entries (and heal entries) in the transaction that commits it, so the
// audit log is the passes' transactional outbox. Feed tails it from a
// durable cursor (store.OutboxStore): per batch of entries it runs noise
// control, plans the deliveries (Dispatcher.Plan) and commits cursor,
// noise states and deliveries in one transaction; then it queues them on
// a Durable dispatcher over its StoreOutbox. A crash before that commit
// repeats the batch from the same state (same messages, same keys); after
// it, the next start delivers what is pending. Reconciliation never waits
// for a receiver. The same commit writes the drift events of the entries
// (drift.detected, drift.resolved, drift.acknowledged) to the store's
// stream log, which every replica's live stream reads (package bus).
//
// # Forecasts
//
// The forecast evaluator's forecast_raised, forecast_updated and
// forecast_cleared audit entries go through the same feed, outside noise
// control: a raise and a clearance are streamed at once (forecast.raised,
// forecast.cleared), an update only when it changed the forecast
// materially since the stream last said (forecast.updated,
// forecast.MaterialChange; ForecastState.Streamed), and a raise is
// announced (KindForecastRaised, CloudEvent type
// io.blackwell.forecast.raised) once its eta is within the stack's
// predict.notify_lead and predict is enabled (FeedOptions.Predict,
// ForecastDue): at once, or at the Tick that finds it due. Its clearance
// (KindForecastCleared) is announced only after its raise was. What the
// feed owes each forecast is a ForecastState, committed with the cursor
// under "forecast:<id>". A forecast message has the taxonomy's severity of
// its code, so the thresholds of the drift's channels apply to it.
//
// # Several replicas
//
// Replicas on one store split the work by shard leases. The feed itself
// runs on one, the leader (FeedOptions.Leader: the holder of shard 0): one
// cursor, serialised by design and cheap. Sending is spread by channel:
// each channel's deliveries are sent by the replica that holds the
// channel's shard (ChannelShard; FeedOptions.Sends). The leader commits
// the deliveries of every channel and queues at once those of its own;
// every replica reads the outbox every PollInterval and queues what is
// pending for its channels (StoreOutbox.Pending lists only those), so a
// delivery leaves within about a second, and a replica that gains a
// channel (another died or the shards were rebalanced) sends what the
// previous owner left at its next poll. A worker whose replica lost its
// channel stops before its next attempt (checked before every Send, so
// after every backoff wait) and leaves the delivery pending for the new
// owner. The one delivery in flight at a handover may be sent by both
// (at least once, as everywhere here).
//
// The channel, not the delivery, is the unit on purpose: one channel's
// deliveries stay in commit order (a PagerDuty trigger before its
// resolve, detected before resolved), its retries, backoff and the
// receiver's Retry-After are honoured in one place, and a receiver sees
// one connection, from one replica.
//
// # Channels
//
// Each channel bounds every attempt with a timeout, classifies answers into
// success, RetryableError (429 with Retry-After, 408, 5xx, network errors,
// SMTP 4xx) and PermanentError (other 4xx, redirects, SMTP 5xx, bad
// certificates), and keeps secrets out of errors and logs: Slack webhook
// URLs are shown as scheme://host/<redacted>, other URLs lose userinfo,
// query and fragment, and routing keys, SMTP passwords and webhook secrets
// are never formatted. Endpoints are overridable (the webhook URLs
// themselves, ChannelOptions.PagerDutyURL, the SMTP host and port, the NATS
// URL or connection), so tests point them at local servers speaking the
// real protocols.
package notify
