package omproto_test

import (
	"path/filepath"
	"testing"

	"github.com/ivrd/ivrd/omproto"
)

func BenchmarkDecodeReport(b *testing.B) {
	for _, name := range []string{"dtmf", "incoming", "cdr"} {
		body := readTestdata(b, filepath.Join("testdata", "reports", name+".xml"))
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if _, err := omproto.DecodeReport(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecodeResponse(b *testing.B) {
	body := readTestdata(b, filepath.Join("testdata", "responses", "status_ext.xml"))
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := omproto.DecodeResponse(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeCommand(b *testing.B) {
	cmd := omproto.Connect{From: refVisitor("14"), To: refMenu("1"), VoiceFile: "user_a+user_b"}
	b.Run("connect_voicefile", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			omproto.EncodeCommand(cmd, nil)
		}
	})
	b.Run("connect_voicefile_signed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			omproto.EncodeCommand(cmd, commandAuth)
		}
	})
}

func BenchmarkEncodeReport(b *testing.B) {
	for _, tc := range reportCases {
		switch tc.name {
		case "dtmf", "incoming", "cdr", "idle_signed":
		default:
			continue
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tc.report.Encode()
			}
		})
	}
}
