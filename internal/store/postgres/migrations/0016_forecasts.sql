-- 0016 (as SQLite's): forecasts of drift (internal/forecast): "drift code
-- on component of a stack is expected by eta". Confidence is stored in
-- basis points (store.ForecastConfidence), evidence as JSON.
CREATE TABLE forecasts (
	id         text COLLATE "C" PRIMARY KEY,
	client_id  text COLLATE "C" NOT NULL,
	stack_id   text COLLATE "C" NOT NULL,
	code       text        NOT NULL,
	component  text        NOT NULL,
	eta        timestamptz NOT NULL,
	confidence bigint      NOT NULL,
	class      text        NOT NULL,
	evidence   text        NOT NULL, -- JSON
	raised_at  timestamptz NOT NULL,
	cleared_at timestamptz
);
-- At most one open forecast per stack, code and component: a raise of an
-- open one updates it (store.ForecastStore.WriteForecasts).
CREATE UNIQUE INDEX forecasts_open ON forecasts (client_id, stack_id, code, component) WHERE cleared_at IS NULL;
-- ListForecasts: a client's forecasts by stack, raised_at and id.
CREATE INDEX forecasts_list ON forecasts (client_id, stack_id, raised_at, id);
