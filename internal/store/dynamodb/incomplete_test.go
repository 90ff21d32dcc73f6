package dynamodb_test

// incompleteCases are the conformance cases the driver does not pass yet
// (docs/DEPLOYMENT.md lists them): each needs a method not implemented,
// or a part of CommitPass not written yet. TestDynamoDBStore skips them,
// saying so.
var incompleteCases = []string{
	"CopyRefusesNonEmpty",
	"CopyRoundTrip",
	"ImportRowsFailsWhole",
}
