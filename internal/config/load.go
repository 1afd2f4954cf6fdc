package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/receiptd/receiptd/internal/secret"
)

// maxSecretFileBytes bounds a secret file; a credential is far smaller, so anything
// bigger is a wrong path, not a secret.
const maxSecretFileBytes = 64 << 10

// Load builds the configuration: [Default], then the YAML file at path ("" means no
// file), then environment overrides found through lookup (os.LookupEnv in production;
// nil means no environment), then secrets read from their *_file keys, then
// [Config.Validate]. On failure it returns a *ProblemsError listing every problem:
// unreadable or malformed YAML, unknown or repeated keys, values of the wrong type,
// bad environment values, unreadable secret files and failed validation rules; the
// Config is then the zero value, never a partly loaded one.
//
// Enumerated values are normalised (log.level, log.user_ids, kafka.start_offset and zim.rate_share
// to lower case, kafka.sasl.mechanism to upper case). A secret and its *_file key may
// not both be set; the *_file key stays in the result to show where the secret came from.
func Load(path string, lookup func(string) (string, bool)) (Config, error) {
	cfg := Default()
	ld := newLoader()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return Config{}, problemsError([]problem{{text: fmt.Sprintf("config file: %v", err)}})
		}
		if !ld.decodeYAML(path, data, &cfg) {
			return Config{}, ld.finish(cfg)
		}
	}
	if lookup != nil {
		ld.applyEnv(lookup, &cfg)
	}
	ld.readSecretFiles(&cfg)
	normalise(&cfg)
	ld.problems = append(ld.problems, ld.relevant(cfg.validate())...)
	if err := ld.finish(cfg); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// loader accumulates problems across the stages of Load.
type loader struct {
	problems []problem
	failed   map[string]bool   // keys whose value could not be read; validation skips them
	origin   map[string]string // where each key was set, for messages about conflicts
	seen     []string          // keys present in the YAML file, in document order
}

func newLoader() *loader {
	return &loader{failed: map[string]bool{}, origin: map[string]string{}}
}

func (ld *loader) addf(keys []string, format string, args ...any) {
	ld.problems = append(ld.problems, problem{keys: keys, text: fmt.Sprintf(format, args...)})
}

// fail records a problem about key and stops validation from reporting key again.
func (ld *loader) fail(key, format string, args ...any) {
	ld.failed[key] = true
	ld.addf([]string{key}, format, args...)
}

func (ld *loader) isFailed(key string) bool {
	for {
		if ld.failed[key] {
			return true
		}
		i := strings.LastIndexByte(key, '.')
		if i < 0 {
			return false
		}
		key = key[:i]
	}
}

// relevant drops validation problems about keys that already failed to load: one
// mistake, one problem.
func (ld *loader) relevant(ps []problem) []problem {
	return slices.DeleteFunc(ps, func(p problem) bool {
		return slices.ContainsFunc(p.keys, ld.isFailed)
	})
}

// finish builds the error, scrubbing any secret that a mistake copied into a message.
func (ld *loader) finish(cfg Config) error {
	v := reflect.ValueOf(cfg)
	for _, l := range allLeaves {
		if l.typ != secretType {
			continue
		}
		s := v.FieldByIndex(l.index).Interface().(secret.Secret).Value()
		if len(s) < 4 { // shorter strings would garble messages and protect nothing
			continue
		}
		for i := range ld.problems {
			ld.problems[i].text = strings.ReplaceAll(ld.problems[i].text, s, secret.Redacted)
		}
	}
	return problemsError(ld.problems)
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// decodeYAML applies the file's keys to cfg. It reports false when the file is not
// YAML at all, in which case nothing else is worth checking.
func (ld *loader) decodeYAML(file string, data []byte, cfg *Config) bool {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return true // an empty file changes nothing
		}
		ld.addf(nil, "%s", syntaxMessage(file, data, err))
		return false
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		ld.addf(nil, "%s", syntaxMessage(file, data, err))
		return false
	default:
		ld.addf(nil, "%s:%d: a second YAML document starts here; put every key in one document", file, extra.Line)
		return false
	}
	if len(doc.Content) == 0 || isNull(resolveAlias(doc.Content[0])) {
		return true
	}
	root := resolveAlias(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		ld.addf(nil, "%s:%d: the file must be a mapping of sections (log:, kafka:, ...), not %s", file, root.Line, kindName(root))
		return false
	}
	w := walker{ld: ld, file: file}
	w.section(root, "", reflect.ValueOf(cfg).Elem())
	return true
}

// syntaxMessage turns a yaml.v3 parse error into file:line form. Parse errors name a
// position and a fixed description, never the text at fault.
func syntaxMessage(file string, data []byte, err error) string {
	m := yamlLineRE.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Sprintf("%s: not valid YAML: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	msg := fmt.Sprintf("%s:%s: not valid YAML: %s", file, m[1], m[2])
	if n, _ := strconv.Atoi(m[1]); n >= 1 {
		lines := strings.Split(string(data), "\n")
		if n <= len(lines) && strings.HasPrefix(strings.TrimLeft(lines[n-1], " "), "\t") {
			msg += " (indent with spaces: YAML does not allow tabs)"
		}
	}
	return msg
}

// walker decodes a YAML node tree onto Config by hand rather than with yaml.v3's
// KnownFields: that way every unknown key is reported with its full path and line, and
// no message quotes a value.
type walker struct {
	ld   *loader
	file string
}

func (w walker) section(n *yaml.Node, path string, v reflect.Value) {
	n = resolveAlias(n)
	if isNull(n) {
		return // "kafka:" with nothing under it keeps the defaults
	}
	if n.Kind != yaml.MappingNode {
		w.ld.fail(path, "%s:%d: %s must be a mapping of keys, not %s", w.file, n.Line, path, kindName(n))
		return
	}
	fields := fieldsByName(v.Type())
	firstLine := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := resolveAlias(n.Content[i]), n.Content[i+1]
		if kn.Kind != yaml.ScalarNode {
			w.ld.addf(nil, "%s:%d: keys must be plain names, not %s", w.file, kn.Line, kindName(kn))
			continue
		}
		name := kn.Value
		key := joinKey(path, name)
		if line, dup := firstLine[name]; dup {
			w.ld.fail(key, "%s:%d: %s is set twice (first at line %d); keep one", w.file, kn.Line, key, line)
			continue
		}
		firstLine[name] = kn.Line
		idx, ok := fields[name]
		if !ok {
			w.ld.addf(nil, "%s:%d: unknown key %s%s", w.file, kn.Line, key, suggest(name, v.Type()))
			continue
		}
		fv := v.Field(idx)
		if isSection(fv.Type()) {
			w.section(vn, key, fv)
			continue
		}
		w.value(vn, key, fv)
	}
}

func (w walker) value(n *yaml.Node, key string, fv reflect.Value) {
	n = resolveAlias(n)
	w.ld.seen = append(w.ld.seen, key)
	w.ld.origin[key] = fmt.Sprintf("%s:%d", w.file, n.Line)
	if isNull(n) {
		fv.SetZero()
		return
	}
	if fv.Type() == stringsType {
		if n.Kind != yaml.SequenceNode {
			w.ld.fail(key, "%s:%d: %s must be a list such as [\"a\", \"b\"], not %s", w.file, n.Line, key, kindName(n))
			return
		}
		items := make([]string, 0, len(n.Content))
		for i, item := range n.Content {
			item = resolveAlias(item)
			if item.Kind != yaml.ScalarNode || isNull(item) {
				w.ld.fail(key, "%s:%d: %s item %d must be a string, not %s", w.file, item.Line, key, i+1, kindName(item))
				return
			}
			items = append(items, item.Value)
		}
		fv.Set(reflect.ValueOf(items))
		return
	}
	if n.Kind != yaml.ScalarNode {
		w.ld.fail(key, "%s:%d: %s must be a single value, not %s", w.file, n.Line, key, kindName(n))
		return
	}
	pv, err := parseText(fv.Type(), n.Value)
	if err != nil {
		w.ld.fail(key, "%s:%d: %s %v", w.file, n.Line, key, err)
		return
	}
	fv.Set(pv)
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "empty"
		}
		return "a single value"
	}
	return "this kind of node"
}

func joinKey(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func fieldsByName(t reflect.Type) map[string]int {
	m := make(map[string]int, t.NumField())
	for i := range t.NumField() {
		m[yamlName(t.Field(i))] = i
	}
	return m
}

// suggest names the sibling key closest to a misspelt one, if any is close.
func suggest(name string, t reflect.Type) string {
	best, bestDist := "", len(name)/3+2 // accept up to a third of the name mistyped, plus one
	for i := range t.NumField() {
		cand := yamlName(t.Field(i))
		if d := editDistance(name, cand); d < bestDist {
			best, bestDist = cand, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// applyEnv overrides every key whose variable lookup finds. A variable that is set to
// "" sets the key to its empty value (for example RECEIPTD_HTTP_LISTEN= disables HTTP).
func (ld *loader) applyEnv(lookup func(string) (string, bool), cfg *Config) {
	v := reflect.ValueOf(cfg).Elem()
	for _, l := range allLeaves {
		text, ok := lookup(l.env)
		if !ok {
			continue
		}
		ld.origin[l.key] = l.env
		pv, err := parseText(l.typ, text)
		if err != nil {
			ld.fail(l.key, "%s: %s %v", l.env, l.key, err)
			continue
		}
		v.FieldByIndex(l.index).Set(pv)
	}
}

// readSecretFiles fills each secret from its sibling *_file key, when that is set.
func (ld *loader) readSecretFiles(cfg *Config) {
	v := reflect.ValueOf(cfg).Elem()
	for _, sl := range allLeaves {
		if sl.typ != secretType {
			continue
		}
		fl, ok := leafByKey(sl.key + "_file")
		if !ok {
			continue
		}
		path := v.FieldByIndex(fl.index).String()
		secret := v.FieldByIndex(sl.index)
		if path == "" {
			continue
		}
		if secret.String() != "" {
			ld.fail(sl.key, "%s (set by %s) and %s (set by %s) are both set; set only one",
				sl.key, ld.originOf(sl), fl.key, ld.originOf(fl))
			continue
		}
		s, err := readSecretFile(path)
		if err != nil {
			ld.fail(sl.key, "%s: %v", fl.key, err)
			continue
		}
		secret.SetString(s)
	}
}

func (ld *loader) originOf(l leaf) string {
	if o, ok := ld.origin[l.key]; ok {
		return o
	}
	return "default"
}

func leafByKey(key string) (leaf, bool) {
	for _, l := range allLeaves {
		if l.key == key {
			return l, true
		}
	}
	return leaf{}, false
}

// readSecretFile returns the file's content without its trailing newline, as written
// by `echo` or a Kubernetes Secret volume.
func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFileBytes+1))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxSecretFileBytes {
		return "", fmt.Errorf("%s is larger than %d bytes; is it the right file?", path, maxSecretFileBytes)
	}
	s := strings.TrimRight(string(data), "\r\n")
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

// normalise brings enumerated values to their canonical spelling.
func normalise(c *Config) {
	c.Log.Level = strings.ToLower(strings.TrimSpace(c.Log.Level))
	c.Log.UserIDs = strings.ToLower(strings.TrimSpace(c.Log.UserIDs))
	c.Kafka.StartOffset = strings.ToLower(strings.TrimSpace(c.Kafka.StartOffset))
	c.Kafka.SASL.Mechanism = strings.ToUpper(strings.TrimSpace(c.Kafka.SASL.Mechanism))
	c.ZIM.RateShare = strings.ToLower(strings.TrimSpace(c.ZIM.RateShare))
}
