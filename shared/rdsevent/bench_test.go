package rdsevent

import (
	"os"
	"testing"
)

func BenchmarkDecodeCoordinates(b *testing.B) {
	data, err := os.ReadFile("../../events/cluster-binlog-coordinates.json")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}
