package config

import (
	"fmt"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/receiptd/receiptd/internal/secret"
)

// envPrefix starts the name of every environment variable that overrides a key.
const envPrefix = "RECEIPTD_"

// EnvVar describes the environment variable that overrides one key.
type EnvVar struct {
	Name    string // RECEIPTD_KAFKA_SASL_PASSWORD
	Key     string // kafka.sasl.password
	Default string // the default in the variable's own syntax; lists are comma-separated
}

// EnvVars returns every key's environment variable, in config.yaml order.
func EnvVars() []EnvVar {
	def := reflect.ValueOf(Default())
	vars := make([]EnvVar, len(allLeaves))
	for i, l := range allLeaves {
		vars[i] = EnvVar{Name: l.env, Key: l.key, Default: formatText(def.FieldByIndex(l.index))}
	}
	return vars
}

// Redacted returns the effective configuration as a flat map from key to value, fit
// for logging: secrets read "[REDACTED]" when set and "" when empty (as does a password
// inside zim.endpoint), durations are strings such as "30s", lists are []string.
func (c Config) Redacted() map[string]any {
	v := reflect.ValueOf(c)
	out := make(map[string]any, len(allLeaves))
	for _, l := range allLeaves {
		fv := v.FieldByIndex(l.index)
		switch {
		case l.typ == secretType:
			out[l.key] = fv.Interface().(secret.Secret).String()
		case l.typ == durationType:
			out[l.key] = formatDuration(time.Duration(fv.Int()))
		case l.typ == stringsType:
			out[l.key] = append([]string{}, fv.Interface().([]string)...)
		default:
			out[l.key] = fv.Interface()
		}
	}
	if u, err := url.Parse(c.ZIM.Endpoint); err == nil && u.User != nil {
		out["zim.endpoint"] = u.Redacted()
	}
	return out
}

var (
	secretType   = reflect.TypeFor[secret.Secret]()
	durationType = reflect.TypeFor[time.Duration]()
	stringsType  = reflect.TypeFor[[]string]()
)

// leaf is one configuration key: a field that holds a value rather than a section.
type leaf struct {
	key   string // dotted path of yaml tags
	env   string // overriding environment variable
	index []int  // reflect field index path from Config
	typ   reflect.Type
}

// allLeaves lists every key of Config in declaration order. It is derived from the
// struct, so a new field gets its key, environment variable and redaction for free.
var allLeaves = collectLeaves(reflect.TypeFor[Config](), "", nil)

func collectLeaves(t reflect.Type, prefix string, index []int) []leaf {
	var out []leaf
	for i := range t.NumField() {
		f := t.Field(i)
		key := yamlName(f)
		if key == "" {
			panic(fmt.Sprintf("config: field %s.%s has no yaml tag", t.Name(), f.Name))
		}
		if prefix != "" {
			key = prefix + "." + key
		}
		idx := append(append([]int{}, index...), i)
		if isSection(f.Type) {
			out = append(out, collectLeaves(f.Type, key, idx)...)
			continue
		}
		if !supportedLeaf(f.Type) {
			// A programming error caught by every test run, never by input.
			panic(fmt.Sprintf("config: key %s has unsupported type %s", key, f.Type))
		}
		out = append(out, leaf{
			key:   key,
			env:   envName(key),
			index: idx,
			typ:   f.Type,
		})
	}
	return out
}

func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

// envName derives a key's environment variable: kafka.sasl.password is
// RECEIPTD_KAFKA_SASL_PASSWORD.
func envName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

func isSection(t reflect.Type) bool { return t.Kind() == reflect.Struct }

func supportedLeaf(t reflect.Type) bool {
	switch {
	case t == durationType, t == stringsType, t == secretType:
		return true
	}
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Uint32:
		return true
	}
	return false
}

// parseText converts one scalar from YAML or the environment into a value of type t.
// Its errors describe what was expected and never quote the input, which may be a
// secret pasted under the wrong key.
func parseText(t reflect.Type, text string) (reflect.Value, error) {
	v := reflect.New(t).Elem()
	switch {
	case t == durationType:
		d, err := time.ParseDuration(strings.TrimSpace(text))
		if err != nil {
			return v, fmt.Errorf("must be a duration such as 250ms, 30s or 5m")
		}
		v.SetInt(int64(d))
		return v, nil
	case t == stringsType:
		v.Set(reflect.ValueOf(splitList(text)))
		return v, nil
	}
	switch t.Kind() {
	case reflect.String:
		v.SetString(text)
	case reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(text))
		if err != nil {
			return v, fmt.Errorf("must be true or false")
		}
		v.SetBool(b)
	case reflect.Int:
		n, err := strconv.ParseInt(cleanNumber(text), 10, strconv.IntSize)
		if err != nil {
			return v, fmt.Errorf("must be a whole number")
		}
		v.SetInt(n)
	case reflect.Uint32:
		n, err := strconv.ParseUint(cleanNumber(text), 10, 32)
		if err != nil {
			return v, fmt.Errorf("must be a whole number from 0 to 4294967295")
		}
		v.SetUint(n)
	default:
		return v, fmt.Errorf("has unsupported type %s", t)
	}
	return v, nil
}

// cleanNumber allows digit grouping with underscores, as YAML does (1_048_576).
func cleanNumber(s string) string {
	return strings.ReplaceAll(strings.TrimSpace(s), "_", "")
}

// splitList parses a comma-separated list, dropping blanks around and between items.
func splitList(s string) []string {
	out := []string{}
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// formatText renders a value in the syntax parseText accepts.
func formatText(v reflect.Value) string {
	switch {
	case v.Type() == durationType:
		return formatDuration(time.Duration(v.Int()))
	case v.Type() == stringsType:
		return strings.Join(v.Interface().([]string), ",")
	case v.Type() == secretType:
		return v.Interface().(secret.Secret).String()
	}
	return fmt.Sprint(v.Interface())
}

// formatDuration prints 5m rather than 5m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
