// Package sim holds faithful fakes of the outside world for tests, the demo
// and benchmarks: servers on 127.0.0.1 that speak the real protocols (HTTP,
// DNS) and can be switched at run time between healthy and the ways real
// things fail, so that probes, drivers and the reconciler are exercised
// against the wire and never against a mock.
package sim
