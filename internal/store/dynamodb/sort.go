package dynamodb

import (
	"slices"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func sortItems(items []map[string]types.AttributeValue, cmp func(a, b map[string]types.AttributeValue) int) {
	slices.SortStableFunc(items, cmp)
}
