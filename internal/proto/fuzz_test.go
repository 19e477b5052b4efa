package proto

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// FuzzParser checks that no input panics the parser and that splitting the
// input at any point yields the same operations and error as one chunk.
func FuzzParser(f *testing.F) {
	seeds := []string{
		allOps,
		"PUB foo 5\r\nhello\r\n",
		"HPUB foo bar 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
		"SUB foo q 1\r\nUNSUB 1 2\r\n",
		"CONNECT {\"verbose\":false}\r\nPING\r\n",
		"PUB foo 999999999\r\n",
		"PUB foo 5\r\nhelloXX",
		"HPUB foo 9 3\r\n",
		"PING" + strings.Repeat(" ", 5000) + "\r\n",
		"SUB " + strings.Repeat("a", 5000) + " 1\r\n",
		"-ERR 'x'\r\n",
		"\r\n\r\n",
		"PUB foo 0\r\n\r\nPUB foo 0\r\n\r\r",
		"pUb\tfoo\t\t2\nab\r\n",
		"INFO\r\n+OK\r\n",
		"\x00\xff",
	}
	for i, s := range seeds {
		f.Add([]byte(s), uint16(i*7))
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		newP := func() *Parser { return &Parser{MaxControlLine: 64, MaxPayload: 256} }
		want, wantErr := parseChunks(newP(), data)
		c := 0
		if len(data) > 0 {
			c = int(cut) % (len(data) + 1)
		}
		got, gotErr := parseChunks(newP(), data[:c], data[c:])
		assert.Equal(t, want, got, "cut %d", c)
		assert.Equal(t, errKey(wantErr), errKey(gotErr), "cut %d", c)
		if c > 0 {
			var chunks [][]byte
			for i := range data {
				chunks = append(chunks, data[i:i+1])
			}
			got, gotErr = parseChunks(newP(), chunks...)
			assert.Equal(t, want, got, "byte by byte")
			assert.Equal(t, errKey(wantErr), errKey(gotErr), "byte by byte")
		}
	})
}
