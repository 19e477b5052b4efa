package sublist

import (
	"fmt"
	"testing"
)

// benchSublist returns a sublist of n subscriptions over a wildcard mix
// (about 80% literal, 10% '*', 10% '>'), and subjects that match some of them.
func benchSublist(b *testing.B, n, cacheSize int) (*Sublist, [][]byte) {
	b.Helper()
	s := NewWithCacheSize(cacheSize)
	for i := range n {
		var subj string
		switch i % 10 {
		case 0:
			subj = fmt.Sprintf("svc.%d.*.evt", i%97)
		case 1:
			subj = fmt.Sprintf("svc.%d.>", i%89)
		default:
			subj = fmt.Sprintf("svc.%d.%d.evt", i%97, i)
		}
		sub := &Subscription{Subject: subj}
		if i%7 == 0 {
			sub.Queue = fmt.Sprintf("q%d", i%3)
		}
		if err := s.Insert(sub); err != nil {
			b.Fatal(err)
		}
	}
	subjects := make([][]byte, 256)
	for i := range subjects {
		subjects[i] = []byte(fmt.Sprintf("svc.%d.%d.evt", i%97, i*37))
	}
	return s, subjects
}

func BenchmarkMatchCached(b *testing.B) {
	s, subjects := benchSublist(b, 10_000, DefaultCacheSize)
	for _, subj := range subjects {
		s.Match(subj)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s.Match(subjects[i&255])
	}
}

func BenchmarkMatchCachedParallel(b *testing.B) {
	s, subjects := benchSublist(b, 10_000, DefaultCacheSize)
	for _, subj := range subjects {
		s.Match(subj)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			s.Match(subjects[i&255])
		}
	})
}

func BenchmarkMatchUncached(b *testing.B) {
	s, subjects := benchSublist(b, 10_000, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s.Match(subjects[i&255])
	}
}

func BenchmarkHasInterestUncached(b *testing.B) {
	s, subjects := benchSublist(b, 10_000, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s.HasInterest(subjects[i&255])
	}
}

// BenchmarkInsertRemove inserts and removes one wildcard subscription in a
// 10k sublist whose cache is full, so it includes the cache update cost.
func BenchmarkInsertRemove(b *testing.B) {
	s, _ := benchSublist(b, 10_000, DefaultCacheSize)
	for i := range DefaultCacheSize {
		s.Match([]byte(fmt.Sprintf("svc.%d.%d.evt", i%97, i)))
	}
	sub := &Subscription{Subject: "svc.5.*.evt"}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := s.Insert(sub); err != nil {
			b.Fatal(err)
		}
		if err := s.Remove(sub); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSubjectMatches(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		SubjectMatches("svc.*.orders.>", "svc.eu.orders.created.v1")
	}
}
