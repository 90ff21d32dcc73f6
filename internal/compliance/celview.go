package compliance

import (
	"reflect"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// CEL reads a Go struct by reflection at every field access, and boxes
// what it reads anew each time: a rule that loops over a stack's
// providers allocated some 90 values per stack, and every rule that
// reads the stack did it again. An evaluation instead gives the rules its
// views as celViews: built once per evaluation (for the rules that are
// judged, not those shared or memoised), each field converted to a CEL
// value the first time a rule reads it and kept for the evaluation's
// other rules. A celView is the same value to CEL as the struct it wraps:
// its type is the struct's, and what is not a field access (==, a
// conversion, an index by a dynamic name) is answered by CEL's own
// object for the struct.

// viewProvider is the environment's type provider, whose field getters
// read a celView's converted fields (and a struct's, by reflection, as
// before: the partial evaluation of an unobserved stack passes structs).
type viewProvider struct {
	types.Provider
}

// withViewProvider is the EnvOption installing viewProvider over the
// environment's provider (after ext.NativeTypes).
func withViewProvider() cel.EnvOption {
	return func(e *cel.Env) (*cel.Env, error) {
		return cel.CustomTypeProvider(&viewProvider{Provider: e.CELTypeProvider()})(e)
	}
}

func (p *viewProvider) FindStructFieldType(structType, fieldName string) (*types.FieldType, bool) {
	ft, ok := p.Provider.FindStructFieldType(structType, fieldName)
	if !ok || ft == nil || ft.GetFrom == nil || ft.IsSet == nil {
		return ft, ok
	}
	l, ok := layouts[structType]
	if !ok {
		return ft, true
	}
	i, ok := l.index[fieldName]
	if !ok {
		return ft, true
	}
	get, isSet := ft.GetFrom, ft.IsSet
	out := *ft
	out.GetFrom = func(obj any) (any, error) {
		if v, ok := obj.(*celView); ok {
			return v.field(i), nil
		}
		return get(obj)
	}
	out.IsSet = func(obj any) bool {
		if v, ok := obj.(*celView); ok {
			f := v.v.Field(i)
			return f.IsValid() && !f.IsZero() // as CEL's native objects answer
		}
		return isSet(obj)
	}
	return &out, true
}

// layout is a view struct's fields by JSON name.
type layout struct {
	index map[string]int
	typ   ref.Type // CEL's type of the struct
}

// layouts are those of every struct of the views, by CEL type name.
var layouts = func() map[string]*layout {
	out := map[string]*layout{}
	reg, err := types.NewRegistry()
	if err != nil {
		panic(err)
	}
	var add func(t reflect.Type)
	add = func(t reflect.Type) {
		switch t.Kind() {
		case reflect.Map, reflect.Slice:
			add(t.Elem())
			return
		case reflect.Struct:
		default:
			return
		}
		name := "compliance." + t.Name()
		if _, ok := out[name]; ok || t == reflect.TypeFor[time.Duration]() {
			return
		}
		if err := reg.RegisterNativeType(t, types.ParseStructTag("json")); err != nil {
			panic(err)
		}
		l := &layout{index: map[string]int{}}
		out[name] = l
		for i := range t.NumField() {
			f := t.Field(i)
			l.index[jsonName(f)] = i
			add(f.Type)
		}
		l.typ = reg.NativeToValue(reflect.Zero(t).Interface()).Type()
	}
	for _, t := range []reflect.Type{reflect.TypeFor[StackView](), reflect.TypeFor[PolicyView](), reflect.TypeFor[ObservedView]()} {
		add(t)
	}
	return out
}()

func jsonName(f reflect.StructField) string {
	tag := f.Tag.Get("json")
	for i := range len(tag) {
		if tag[i] == ',' {
			return tag[:i]
		}
	}
	if tag == "" {
		return f.Name
	}
	return tag
}

// celView is a view struct as a CEL value.
type celView struct {
	adapter types.Adapter
	l       *layout
	v       reflect.Value // the struct
	fields  []ref.Val     // converted on first use
	obj     ref.Val       // CEL's own object for the struct, on first use
}

func newCELView(adapter types.Adapter, v reflect.Value) *celView {
	return &celView{adapter: adapter, l: layouts["compliance."+v.Type().Name()], v: v, fields: make([]ref.Val, v.NumField())}
}

// field is the CEL value of field i.
func (c *celView) field(i int) ref.Val {
	if f := c.fields[i]; f != nil {
		return f
	}
	f := toCEL(c.adapter, c.v.Field(i))
	c.fields[i] = f
	return f
}

var durationType = reflect.TypeFor[time.Duration]()

// toCEL converts a field's value: structs and the maps and lists holding
// them to celViews (and maps and lists of them), the rest as CEL's
// adapter does.
func toCEL(a types.Adapter, v reflect.Value) ref.Val {
	switch v.Kind() {
	case reflect.String:
		return types.String(v.String())
	case reflect.Bool:
		return types.Bool(v.Bool())
	case reflect.Int, reflect.Int64:
		if v.Type() == durationType {
			return types.Duration{Duration: time.Duration(v.Int())}
		}
		return types.Int(v.Int())
	case reflect.Struct:
		return newCELView(a, v)
	case reflect.Map:
		if v.Type().Elem().Kind() == reflect.Struct && v.Type().Key().Kind() == reflect.String {
			m := make(map[ref.Val]ref.Val, v.Len())
			for it := v.MapRange(); it.Next(); {
				m[types.String(it.Key().String())] = newCELView(a, it.Value())
			}
			return types.NewRefValMap(a, m)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Struct {
			l := make([]ref.Val, v.Len())
			for i := range l {
				l[i] = newCELView(a, v.Index(i))
			}
			return types.NewRefValList(a, l)
		}
	}
	return a.NativeToValue(v.Interface())
}

// object is CEL's own object for the struct.
func (c *celView) object() ref.Val {
	if c.obj == nil {
		c.obj = c.adapter.NativeToValue(c.v.Interface())
	}
	return c.obj
}

// ConvertToNative converts as CEL's object does.
func (c *celView) ConvertToNative(t reflect.Type) (any, error) { return c.object().ConvertToNative(t) }

// ConvertToType converts as CEL's object does.
func (c *celView) ConvertToType(t ref.Type) ref.Val { return c.object().ConvertToType(t) }

// Equal compares the structs, as CEL's objects do.
func (c *celView) Equal(other ref.Val) ref.Val {
	if o, ok := other.(*celView); ok {
		other = o.object()
	}
	return c.object().Equal(other)
}

// Type is the struct's CEL type.
func (c *celView) Type() ref.Type { return c.l.typ }

// Value is the celView itself, which the field getters read.
func (c *celView) Value() any { return c }

// Get reads a field by name (a dynamic access), as CEL's object does.
func (c *celView) Get(field ref.Val) ref.Val {
	if s, ok := field.(types.String); ok {
		if i, ok := c.l.index[string(s)]; ok {
			return c.field(i)
		}
	}
	return c.object().(interface{ Get(ref.Val) ref.Val }).Get(field)
}

// IsSet tests a field by name, as CEL's object does.
func (c *celView) IsSet(field ref.Val) ref.Val {
	return c.object().(interface{ IsSet(ref.Val) ref.Val }).IsSet(field)
}

// IsZeroValue is CEL's object's.
func (c *celView) IsZeroValue() bool { return c.v.IsZero() }
