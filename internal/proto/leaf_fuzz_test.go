package proto

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
)

// FuzzLeafParser checks that no input panics the leafnode parser and that
// splitting the input at any point, or byte by byte, yields the same
// operations and error as one chunk.
func FuzzLeafParser(f *testing.F) {
	seeds := []string{
		allLeafOps,
		"LS+ baz.* g1 1\r\nLS- baz.* g1\r\n",
		"LMSG qq | grp 1\r\nx\r\n",
		"LMSG fromleaf r.1 3\r\nabc\r\n",
		"HMSG foo rep 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
		"HMSG foo + rep q1 q2 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
		"LMSG a x b 1\r\n",
		"HMSG a 9 3\r\n",
		"LMSG foo 999999999\r\n",
		"LMSG foo 5\r\nhelloXX",
		"LS+ q G x\r\nLS+ a b\r\n",
		"-ERR 'x'\r\n-ERR\r\n",
		"ls\x0bfoo\r\n",
		"PING" + strings.Repeat(" ", 100) + "\r\n",
		"LMSG a |" + strings.Repeat(" q", 40) + " 1\r\nx\r\n",
		"INFO {}\r\nCONNECT {}\r\n+OK\r\n",
		"\x00\xff",
	}
	for i, s := range seeds {
		f.Add([]byte(s), uint16(i*7))
	}
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		newP := func() *LeafParser { return &LeafParser{MaxControlLine: 64, MaxPayload: 256} }
		want, wantErr := parseLeafChunks(newP(), data)
		c := 0
		if len(data) > 0 {
			c = int(cut) % (len(data) + 1)
		}
		got, gotErr := parseLeafChunks(newP(), data[:c], data[c:])
		assert.Equal(t, want, got, "cut %d", c)
		assert.Equal(t, errKey(wantErr), errKey(gotErr), "cut %d", c)
		if c > 0 {
			var chunks [][]byte
			for i := range data {
				chunks = append(chunks, data[i:i+1])
			}
			got, gotErr = parseLeafChunks(newP(), chunks...)
			assert.Equal(t, want, got, "byte by byte")
			assert.Equal(t, errKey(wantErr), errKey(gotErr), "byte by byte")
		}
	})
}
