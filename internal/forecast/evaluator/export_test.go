package evaluator

// Notices is notices, for the tests of package evaluator_test.
var Notices = notices
