package dynamodb

import (
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/blackwellio/blackwell/internal/store"
)

// filterExpr builds a query's FilterExpression from conditions.
type filterExpr struct {
	conds []string
	names map[string]string
	vals  map[string]types.AttributeValue
}

// eq adds attr = v, unless v is empty (no filter).
func (f *filterExpr) eq(attr, v string) {
	if v == "" {
		return
	}
	n := len(f.conds)
	f.cond(fmt.Sprintf("#f%d = :f%d", n, n), fmt.Sprintf(":f%d", n), str(v))
	if f.names == nil {
		f.names = map[string]string{}
	}
	f.names[fmt.Sprintf("#f%d", n)] = attr
}

func (f *filterExpr) cond(c, name string, v types.AttributeValue) {
	if f.vals == nil {
		f.vals = map[string]types.AttributeValue{}
	}
	f.conds = append(f.conds, c)
	f.vals[name] = v
}

// apply sets the query's filter (nothing without conditions).
func (f *filterExpr) apply(in *dynamodb.QueryInput) {
	if len(f.conds) == 0 {
		return
	}
	in.FilterExpression = aws.String(strings.Join(f.conds, " AND "))
	if len(f.names) > 0 {
		if in.ExpressionAttributeNames == nil {
			in.ExpressionAttributeNames = map[string]string{}
		}
		for k, v := range f.names {
			in.ExpressionAttributeNames[k] = v
		}
	}
	if in.ExpressionAttributeValues == nil {
		in.ExpressionAttributeValues = map[string]types.AttributeValue{}
	}
	for k, v := range f.vals {
		in.ExpressionAttributeValues[k] = v
	}
}

// in adds attr IN (values...).
func (f *filterExpr) in(attr string, values any) {
	var vs []string
	switch v := values.(type) {
	case []store.HealStatus:
		for _, x := range v {
			vs = append(vs, string(x))
		}
	case []store.ApprovalStatus:
		for _, x := range v {
			vs = append(vs, string(x))
		}
	}
	n := len(f.conds)
	var names []string
	if f.vals == nil {
		f.vals = map[string]types.AttributeValue{}
	}
	for i, v := range vs {
		k := fmt.Sprintf(":in%d_%d", n, i)
		names = append(names, k)
		f.vals[k] = str(v)
	}
	if f.names == nil {
		f.names = map[string]string{}
	}
	f.names[fmt.Sprintf("#in%d", n)] = attr
	f.conds = append(f.conds, fmt.Sprintf("#in%d IN (%s)", n, strings.Join(names, ", ")))
}
