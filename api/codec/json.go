package codec

import (
	"encoding/base64"
	"fmt"
	"math"
	"sort"
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// JSON is the application/json codec. It speaks Mesos's JSON, which is not
// protojson's:
//
// Encoding follows stout's JSON::Protobuf: keys are proto field names,
// enums are written as their names, 64-bit integers as JSON numbers, bytes
// as padded standard base64, doubles in shortest round-trip form with a
// ".0" kept on integral values (±infinity as the bare tokens Infinity and
// -Infinity), empty repeated fields and unset messages omitted, and unset
// optional fields with an explicit, non-deprecated [default] written with
// their default value. Messages with missing required fields are refused.
//
// Decoding follows stout's JSON→protobuf rules, leniently: unknown keys are
// ignored, null means unset, enum names unknown to us are dropped (an error
// only for a required field), numbers may also come as numeric strings,
// booleans as "true"/"false", a single value stands for a one-element
// repeated field, and missing required fields are an error.
var JSON Codec = jsonCodec{}

// maxJSONDepth bounds the nesting of arrays and objects the decoder accepts.
const maxJSONDepth = 100

type jsonCodec struct{}

func (jsonCodec) MediaType() string { return MediaJSON }

func (jsonCodec) Marshal(m proto.Message) ([]byte, error) {
	if err := proto.CheckInitialized(m); err != nil {
		return nil, err
	}
	r := m.ProtoReflect()
	if !r.IsValid() {
		return []byte("{}"), nil
	}
	return appendMessage(make([]byte, 0, 256), r), nil
}

func (jsonCodec) Unmarshal(data []byte, m proto.Message) error {
	proto.Reset(m)
	p := parser{data: data}
	v, err := p.parse()
	if err != nil {
		return err
	}
	if v.kind != jObject {
		return fmt.Errorf("json: expecting a JSON object, got %s", v.kind)
	}
	if err := decodeMessage(m.ProtoReflect(), v, ""); err != nil {
		return err
	}
	return proto.CheckInitialized(m)
}

// ---- encoding ----

func appendMessage(b []byte, m protoreflect.Message) []byte {
	b = append(b, '{')
	first := true
	field := func(fd protoreflect.FieldDescriptor) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendString(b, string(fd.Name()))
		b = append(b, ':')
	}
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		switch {
		case fd.IsList():
			list := m.Get(fd).List()
			if list.Len() == 0 {
				continue
			}
			field(fd)
			b = append(b, '[')
			for j := 0; j < list.Len(); j++ {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendValue(b, fd, list.Get(j))
			}
			b = append(b, ']')
		case fd.IsMap():
			mp := m.Get(fd).Map()
			if mp.Len() == 0 {
				continue
			}
			field(fd)
			b = appendMap(b, fd, mp)
		case m.Has(fd):
			field(fd)
			b = appendValue(b, fd, m.Get(fd))
		case fd.HasDefault() && !isDeprecated(fd):
			field(fd)
			b = appendValue(b, fd, fd.Default())
		}
	}
	return append(b, '}')
}

func isDeprecated(fd protoreflect.FieldDescriptor) bool {
	opts, ok := fd.Options().(*descriptorpb.FieldOptions)
	return ok && opts.GetDeprecated()
}

func appendMap(b []byte, fd protoreflect.FieldDescriptor, mp protoreflect.Map) []byte {
	type entry struct {
		key string
		val protoreflect.Value
	}
	entries := make([]entry, 0, mp.Len())
	mp.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
		entries = append(entries, entry{k.String(), v})
		return true
	})
	sort.Slice(entries, func(i, j int) bool { return entries[i].key < entries[j].key })
	b = append(b, '{')
	for i, e := range entries {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, e.key)
		b = append(b, ':')
		b = appendValue(b, fd.MapValue(), e.val)
	}
	return append(b, '}')
}

func appendValue(b []byte, fd protoreflect.FieldDescriptor, v protoreflect.Value) []byte {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.Bool())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return strconv.AppendInt(b, v.Int(), 10)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.AppendUint(b, v.Uint(), 10)
	case protoreflect.FloatKind:
		return appendFloat(b, v.Float(), 32)
	case protoreflect.DoubleKind:
		return appendFloat(b, v.Float(), 64)
	case protoreflect.StringKind:
		return appendString(b, v.String())
	case protoreflect.BytesKind:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v.Bytes())
		return append(b, '"')
	case protoreflect.EnumKind:
		if ev := fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			return appendString(b, string(ev.Name()))
		}
		// A number outside the enum (possible only through the Go API):
		// write it as a number rather than lose it.
		return strconv.AppendInt(b, int64(v.Enum()), 10)
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return appendMessage(b, v.Message())
	}
	return append(b, "null"...)
}

// appendFloat writes f in shortest round-trip form, keeping a ".0" on
// integral values as Mesos does, and ±infinity and NaN as bare tokens.
func appendFloat(b []byte, f float64, bits int) []byte {
	switch {
	case math.IsInf(f, 1):
		return append(b, "Infinity"...)
	case math.IsInf(f, -1):
		return append(b, "-Infinity"...)
	case math.IsNaN(f):
		return append(b, "NaN"...)
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, format, -1, bits)
	for _, c := range b[start:] {
		if c == '.' || c == 'e' {
			return b
		}
	}
	return append(b, ".0"...)
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. Invalid UTF-8 becomes U+FFFD;
// U+2028 and U+2029 are escaped so that the output is also valid
// JavaScript (JSONP).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c >= 0x20:
				b = append(b, c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028':
			b = append(b, `\u2028`...)
		case r == '\u2029':
			b = append(b, `\u2029`...)
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// ---- decoding ----

// decodeMessage sets the fields of m from the JSON object v. path names
// the message for error messages ("" at the top).
func decodeMessage(m protoreflect.Message, v *jsonValue, path string) error {
	fields := m.Descriptor().Fields()
	for i := range v.obj {
		mem := &v.obj[i]
		fd := fields.ByName(protoreflect.Name(mem.key))
		if fd == nil {
			fd = fields.ByJSONName(mem.key)
		}
		if fd == nil {
			continue // unknown keys are ignored
		}
		fpath := string(fd.Name())
		if path != "" {
			fpath = path + "." + fpath
		}
		val := &mem.val
		if val.kind == jNull {
			m.Clear(fd)
			continue
		}
		var err error
		switch {
		case fd.IsMap():
			err = decodeMap(m, fd, val, fpath)
		case fd.IsList():
			err = decodeList(m, fd, val, fpath)
		case isMessage(fd):
			if val.kind != jObject {
				return fmt.Errorf("json: field %q: expecting a JSON object, got %s", fpath, val.kind)
			}
			m.Clear(fd)
			err = decodeMessage(m.Mutable(fd).Message(), val, fpath)
		default:
			var x protoreflect.Value
			var known bool
			x, known, err = decodeScalar(fd, val, fpath)
			if err != nil {
				break
			}
			if !known {
				if fd.Cardinality() == protoreflect.Required {
					return fmt.Errorf("json: field %q: unknown enum value %s", fpath, val.text)
				}
				m.Clear(fd)
				continue
			}
			m.Set(fd, x)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func isMessage(fd protoreflect.FieldDescriptor) bool {
	k := fd.Kind()
	return k == protoreflect.MessageKind || k == protoreflect.GroupKind
}

func decodeList(m protoreflect.Message, fd protoreflect.FieldDescriptor, v *jsonValue, path string) error {
	items := []jsonValue{*v}
	if v.kind == jArray {
		items = v.arr
	}
	m.Clear(fd)
	if len(items) == 0 {
		return nil
	}
	list := m.Mutable(fd).List()
	for i := range items {
		item := &items[i]
		ipath := fmt.Sprintf("%s[%d]", path, i)
		if isMessage(fd) {
			if item.kind != jObject {
				return fmt.Errorf("json: field %q: expecting a JSON object, got %s", ipath, item.kind)
			}
			e := list.NewElement()
			if err := decodeMessage(e.Message(), item, ipath); err != nil {
				return err
			}
			list.Append(e)
			continue
		}
		x, known, err := decodeScalar(fd, item, ipath)
		if err != nil {
			return err
		}
		if known {
			list.Append(x)
		}
	}
	return nil
}

func decodeMap(m protoreflect.Message, fd protoreflect.FieldDescriptor, v *jsonValue, path string) error {
	if v.kind != jObject {
		return fmt.Errorf("json: field %q: expecting a JSON object, got %s", path, v.kind)
	}
	m.Clear(fd)
	if len(v.obj) == 0 {
		return nil
	}
	mp := m.Mutable(fd).Map()
	kd, vd := fd.MapKey(), fd.MapValue()
	for i := range v.obj {
		mem := &v.obj[i]
		epath := path + "[" + strconv.Quote(mem.key) + "]"
		key, err := decodeMapKey(kd, mem.key, epath)
		if err != nil {
			return err
		}
		if mem.val.kind == jNull {
			mp.Clear(key)
			continue
		}
		if isMessage(vd) {
			if mem.val.kind != jObject {
				return fmt.Errorf("json: field %q: expecting a JSON object, got %s", epath, mem.val.kind)
			}
			e := mp.NewValue()
			if err := decodeMessage(e.Message(), &mem.val, epath); err != nil {
				return err
			}
			mp.Set(key, e)
			continue
		}
		x, known, err := decodeScalar(vd, &mem.val, epath)
		if err != nil {
			return err
		}
		if known {
			mp.Set(key, x)
		} else {
			mp.Clear(key)
		}
	}
	return nil
}

func decodeMapKey(fd protoreflect.FieldDescriptor, key, path string) (protoreflect.MapKey, error) {
	v, _, err := decodeScalar(fd, &jsonValue{kind: jString, text: key}, path)
	if err != nil {
		return protoreflect.MapKey{}, err
	}
	return v.MapKey(), nil
}

// decodeScalar converts a JSON value for a non-message field. known is
// false for an enum value that the enum does not define.
func decodeScalar(fd protoreflect.FieldDescriptor, v *jsonValue, path string) (x protoreflect.Value, known bool, err error) {
	bad := func(what string) error {
		return fmt.Errorf("json: field %q: expecting %s, got %s", path, what, v.kind)
	}
	switch fd.Kind() {
	case protoreflect.BoolKind:
		switch {
		case v.kind == jBool, v.kind == jString && (v.text == "true" || v.text == "false"):
			return protoreflect.ValueOfBool(v.text == "true"), true, nil
		}
		return x, false, bad("a boolean")
	case protoreflect.StringKind:
		if v.kind != jString {
			return x, false, bad("a string")
		}
		return protoreflect.ValueOfString(v.text), true, nil
	case protoreflect.BytesKind:
		if v.kind != jString {
			return x, false, bad("a base64 string")
		}
		data, err := decodeBase64(v.text)
		if err != nil {
			return x, false, fmt.Errorf("json: field %q: invalid base64", path)
		}
		return protoreflect.ValueOfBytes(data), true, nil
	case protoreflect.EnumKind:
		values := fd.Enum().Values()
		switch v.kind {
		case jString:
			ev := values.ByName(protoreflect.Name(v.text))
			if ev == nil {
				return x, false, nil
			}
			return protoreflect.ValueOfEnum(ev.Number()), true, nil
		case jNumber:
			n, err := parseInt(v.text, 32)
			if err != nil {
				return x, false, fmt.Errorf("json: field %q: %v", path, err)
			}
			ev := values.ByNumber(protoreflect.EnumNumber(n))
			if ev == nil {
				return x, false, nil
			}
			return protoreflect.ValueOfEnum(ev.Number()), true, nil
		}
		return x, false, bad("an enum name")
	}

	// Numbers: JSON numbers or numeric strings.
	if v.kind != jNumber && v.kind != jString {
		return x, false, bad("a number")
	}
	switch fd.Kind() {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n, err := parseInt(v.text, 32)
		if err != nil {
			return x, false, fmt.Errorf("json: field %q: %v", path, err)
		}
		return protoreflect.ValueOfInt32(int32(n)), true, nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, err := parseInt(v.text, 64)
		if err != nil {
			return x, false, fmt.Errorf("json: field %q: %v", path, err)
		}
		return protoreflect.ValueOfInt64(n), true, nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		n, err := parseUint(v.text, 32)
		if err != nil {
			return x, false, fmt.Errorf("json: field %q: %v", path, err)
		}
		return protoreflect.ValueOfUint32(uint32(n)), true, nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		n, err := parseUint(v.text, 64)
		if err != nil {
			return x, false, fmt.Errorf("json: field %q: %v", path, err)
		}
		return protoreflect.ValueOfUint64(n), true, nil
	case protoreflect.FloatKind:
		f, err := parseFloat(v.text, 32)
		if err != nil {
			return x, false, fmt.Errorf("json: field %q: %v", path, err)
		}
		return protoreflect.ValueOfFloat32(float32(f)), true, nil
	case protoreflect.DoubleKind:
		f, err := parseFloat(v.text, 64)
		if err != nil {
			return x, false, fmt.Errorf("json: field %q: %v", path, err)
		}
		return protoreflect.ValueOfFloat64(f), true, nil
	}
	return x, false, fmt.Errorf("json: field %q: unsupported kind %s", path, fd.Kind())
}

func decodeBase64(s string) ([]byte, error) {
	var firstErr error
	for _, enc := range []*base64.Encoding{
		base64.StdEncoding, base64.RawStdEncoding,
		base64.URLEncoding, base64.RawURLEncoding,
	} {
		b, err := enc.DecodeString(s)
		if err == nil {
			return b, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

// decimal is a JSON number split into its parts: the value is
// (-1 if neg) × digits × 10^exp, digits without leading or trailing zeros
// ("" for zero).
type decimal struct {
	neg    bool
	digits string
	exp    int
}

// maxExp bounds the exponents parseDecimal tracks exactly; beyond it a
// value is certainly out of range for any integer type.
const maxExp = 1 << 20

// parseDecimal parses s with the JSON number grammar.
func parseDecimal(s string) (d decimal, ok bool) {
	i := 0
	if i < len(s) && s[i] == '-' {
		d.neg = true
		i++
	}
	start := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	intPart := s[start:i]
	if len(intPart) == 0 || (len(intPart) > 1 && intPart[0] == '0') {
		return d, false
	}
	var frac string
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		frac = s[fs:i]
		if frac == "" {
			return d, false
		}
	}
	exp := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		es := i
		for i < len(s) && isDigit(s[i]) {
			if exp < maxExp {
				exp = exp*10 + int(s[i]-'0')
			}
			i++
		}
		if i == es {
			return d, false
		}
		if eneg {
			exp = -exp
		}
	}
	if i != len(s) {
		return d, false
	}
	digits := intPart + frac
	exp -= len(frac)
	for len(digits) > 0 && digits[0] == '0' {
		digits = digits[1:]
	}
	for len(digits) > 0 && digits[len(digits)-1] == '0' {
		digits = digits[:len(digits)-1]
		exp++
	}
	if digits == "" {
		exp = 0
	}
	d.digits = digits
	d.exp = exp
	return d, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// integer returns the decimal digits of d's magnitude, or an error when d
// is not an integer or has more than 20 digits.
func (d decimal) integer() (string, error) {
	if d.digits == "" {
		return "0", nil
	}
	if d.exp < 0 {
		return "", fmt.Errorf("not an integer")
	}
	if len(d.digits)+d.exp > 20 {
		return "", fmt.Errorf("integer out of range")
	}
	b := make([]byte, 0, len(d.digits)+d.exp)
	b = append(b, d.digits...)
	for range d.exp {
		b = append(b, '0')
	}
	return string(b), nil
}

func parseInt(s string, bits int) (int64, error) {
	d, ok := parseDecimal(s)
	if !ok {
		return 0, fmt.Errorf("invalid number %q", s)
	}
	mag, err := d.integer()
	if err != nil {
		return 0, fmt.Errorf("%v: %q", err, s)
	}
	if d.neg {
		mag = "-" + mag
	}
	n, err := strconv.ParseInt(mag, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("integer out of range: %q", s)
	}
	return n, nil
}

func parseUint(s string, bits int) (uint64, error) {
	d, ok := parseDecimal(s)
	if !ok {
		return 0, fmt.Errorf("invalid number %q", s)
	}
	mag, err := d.integer()
	if err != nil {
		return 0, fmt.Errorf("%v: %q", err, s)
	}
	if d.neg && d.digits != "" {
		return 0, fmt.Errorf("integer out of range: %q", s)
	}
	n, err := strconv.ParseUint(mag, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("integer out of range: %q", s)
	}
	return n, nil
}

func parseFloat(s string, bits int) (float64, error) {
	switch s {
	case "Infinity":
		return math.Inf(1), nil
	case "-Infinity":
		return math.Inf(-1), nil
	case "NaN":
		return math.NaN(), nil
	}
	if _, ok := parseDecimal(s); !ok {
		return 0, fmt.Errorf("invalid number %q", s)
	}
	f, err := strconv.ParseFloat(s, bits)
	if err != nil && (math.IsInf(f, 0) || math.IsNaN(f)) {
		return 0, fmt.Errorf("number out of range: %q", s)
	}
	return f, nil
}

// ---- parsing ----

type jsonKind uint8

const (
	jNull jsonKind = iota
	jBool
	jNumber
	jString
	jArray
	jObject
)

func (k jsonKind) String() string {
	switch k {
	case jNull:
		return "null"
	case jBool:
		return "a boolean"
	case jNumber:
		return "a number"
	case jString:
		return "a string"
	case jArray:
		return "an array"
	case jObject:
		return "an object"
	}
	return "an unknown value"
}

// jsonValue is a parsed JSON value. text holds a string's contents, a
// number's literal (including the bare tokens Infinity, -Infinity and NaN)
// or "true"/"false".
type jsonValue struct {
	kind jsonKind
	text string
	arr  []jsonValue
	obj  []jsonMember
}

type jsonMember struct {
	key string
	val jsonValue
}

type parser struct {
	data []byte
	pos  int
}

type syntaxError struct {
	msg string
	pos int
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("json: %s at offset %d", e.msg, e.pos)
}

func (p *parser) errorf(format string, args ...any) error {
	return &syntaxError{msg: fmt.Sprintf(format, args...), pos: p.pos}
}

// parse parses the whole input as one JSON value.
func (p *parser) parse() (*jsonValue, error) {
	var v jsonValue
	p.skipSpace()
	if err := p.value(&v, 0); err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return nil, p.errorf("unexpected data after the top-level value")
	}
	return &v, nil
}

func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) literal(word string) bool {
	if len(p.data)-p.pos >= len(word) && string(p.data[p.pos:p.pos+len(word)]) == word {
		p.pos += len(word)
		return true
	}
	return false
}

func (p *parser) value(v *jsonValue, depth int) error {
	if p.pos >= len(p.data) {
		return p.errorf("unexpected end of input")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		if depth >= maxJSONDepth {
			return p.errorf("nesting deeper than %d", maxJSONDepth)
		}
		return p.object(v, depth+1)
	case c == '[':
		if depth >= maxJSONDepth {
			return p.errorf("nesting deeper than %d", maxJSONDepth)
		}
		return p.array(v, depth+1)
	case c == '"':
		s, err := p.str()
		if err != nil {
			return err
		}
		*v = jsonValue{kind: jString, text: s}
		return nil
	case c == 't' || c == 'f' || c == 'n':
		switch {
		case p.literal("true"):
			*v = jsonValue{kind: jBool, text: "true"}
		case p.literal("false"):
			*v = jsonValue{kind: jBool, text: "false"}
		case p.literal("null"):
			*v = jsonValue{kind: jNull}
		default:
			return p.errorf("invalid literal")
		}
		return nil
	case c == 'I' || c == 'N':
		// Mesos writes infinite doubles as bare tokens.
		for _, w := range []string{"Infinity", "NaN"} {
			if p.literal(w) {
				*v = jsonValue{kind: jNumber, text: w}
				return nil
			}
		}
		return p.errorf("invalid literal")
	case c == '-' || isDigit(c):
		if p.literal("-Infinity") {
			*v = jsonValue{kind: jNumber, text: "-Infinity"}
			return nil
		}
		return p.number(v)
	}
	return p.errorf("unexpected character %q", p.data[p.pos])
}

func (p *parser) number(v *jsonValue) error {
	start := p.pos
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if isDigit(c) || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E' {
			p.pos++
			continue
		}
		break
	}
	text := string(p.data[start:p.pos])
	if _, ok := parseDecimal(text); !ok {
		p.pos = start
		return p.errorf("invalid number %q", text)
	}
	*v = jsonValue{kind: jNumber, text: text}
	return nil
}

func (p *parser) object(v *jsonValue, depth int) error {
	p.pos++ // '{'
	*v = jsonValue{kind: jObject}
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return p.errorf("expecting an object key")
		}
		key, err := p.str()
		if err != nil {
			return err
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return p.errorf("expecting ':'")
		}
		p.pos++
		p.skipSpace()
		v.obj = append(v.obj, jsonMember{key: key})
		if err := p.value(&v.obj[len(v.obj)-1].val, depth); err != nil {
			return err
		}
		p.skipSpace()
		if p.pos >= len(p.data) {
			return p.errorf("unexpected end of input")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return nil
		default:
			return p.errorf("expecting ',' or '}'")
		}
	}
}

func (p *parser) array(v *jsonValue, depth int) error {
	p.pos++ // '['
	*v = jsonValue{kind: jArray}
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return nil
	}
	for {
		p.skipSpace()
		v.arr = append(v.arr, jsonValue{})
		if err := p.value(&v.arr[len(v.arr)-1], depth); err != nil {
			return err
		}
		p.skipSpace()
		if p.pos >= len(p.data) {
			return p.errorf("unexpected end of input")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return nil
		default:
			return p.errorf("expecting ',' or ']'")
		}
	}
}

// str parses a JSON string. Invalid UTF-8 and unpaired surrogates become
// U+FFFD, as encoding/json does.
func (p *parser) str() (string, error) {
	p.pos++ // opening quote
	var b []byte
	for {
		if p.pos >= len(p.data) {
			return "", p.errorf("unterminated string")
		}
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(b), nil
		case c < 0x20:
			return "", p.errorf("control character in string")
		case c == '\\':
			if p.pos+1 >= len(p.data) {
				return "", p.errorf("unterminated string")
			}
			e := p.data[p.pos+1]
			p.pos += 2
			switch e {
			case '"', '\\', '/':
				b = append(b, e)
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return "", p.errorf("invalid \\u escape")
				}
				if 0xD800 <= r && r < 0xDC00 {
					// A high surrogate: take the low one if it follows.
					save := p.pos
					if p.literal(`\u`) {
						if r2, ok := p.hex4(); ok && 0xDC00 <= r2 && r2 < 0xE000 {
							r = 0x10000 + (r-0xD800)<<10 + (r2 - 0xDC00)
							b = utf8.AppendRune(b, r)
							continue
						}
					}
					p.pos = save
					r = utf8.RuneError
				} else if 0xDC00 <= r && r < 0xE000 {
					r = utf8.RuneError
				}
				b = utf8.AppendRune(b, r)
			default:
				p.pos -= 2
				return "", p.errorf("invalid escape")
			}
		case c < utf8.RuneSelf:
			b = append(b, c)
			p.pos++
		default:
			r, size := utf8.DecodeRune(p.data[p.pos:])
			if r == utf8.RuneError && size == 1 {
				b = utf8.AppendRune(b, utf8.RuneError)
			} else {
				b = append(b, p.data[p.pos:p.pos+size]...)
			}
			p.pos += size
		}
	}
}

func (p *parser) hex4() (rune, bool) {
	if len(p.data)-p.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.data[p.pos : p.pos+4] {
		r <<= 4
		switch {
		case '0' <= c && c <= '9':
			r |= rune(c - '0')
		case 'a' <= c && c <= 'f':
			r |= rune(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	p.pos += 4
	return r, true
}
