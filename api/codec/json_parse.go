package codec

import (
	"fmt"
	"unicode/utf8"
)

// A small JSON parser that keeps numbers as text and bounds nesting, so
// decoding can apply Mesos's lenient number rules exactly.
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
