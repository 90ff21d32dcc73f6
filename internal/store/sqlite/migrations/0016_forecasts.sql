-- 0016: forecasts of drift (internal/forecast): "drift code on component
-- of a stack is expected by eta". Confidence is stored in basis points
-- (store.ForecastConfidence), evidence as JSON.
CREATE TABLE forecasts (
	id         TEXT    PRIMARY KEY,
	client_id  TEXT    NOT NULL,
	stack_id   TEXT    NOT NULL,
	code       TEXT    NOT NULL,
	component  TEXT    NOT NULL,
	eta        INTEGER NOT NULL,
	confidence INTEGER NOT NULL,
	class      TEXT    NOT NULL,
	evidence   TEXT    NOT NULL, -- JSON
	raised_at  INTEGER NOT NULL,
	cleared_at INTEGER
) STRICT;
-- At most one open forecast per stack, code and component: a raise of an
-- open one updates it (store.ForecastStore.WriteForecasts).
CREATE UNIQUE INDEX forecasts_open ON forecasts (client_id, stack_id, code, component) WHERE cleared_at IS NULL;
-- ListForecasts: a client's forecasts by stack, raised_at and id.
CREATE INDEX forecasts_list ON forecasts (client_id, stack_id, raised_at, id);
