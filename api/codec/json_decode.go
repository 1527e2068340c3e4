package codec

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Decoding Mesos JSON into messages (see json.go for the rules).
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
