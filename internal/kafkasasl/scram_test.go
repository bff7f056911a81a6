package kafkasasl

import (
	"testing"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// TestConversation runs a whole SCRAM exchange of each client against
// xdg-go/scram's server side: a wrong password must fail, the right one
// must finish with Done.
func TestConversation(t *testing.T) {
	for name, tc := range map[string]struct {
		gen  func() sarama.SCRAMClient
		hash scram.HashGeneratorFcn
	}{
		"SCRAM-SHA-256": {NewSHA256, scram.SHA256},
		"SCRAM-SHA-512": {NewSHA512, scram.SHA512},
	} {
		for _, pw := range []string{"secret", "wrong"} {
			t.Run(name+"/"+pw, func(t *testing.T) {
				kf := scram.KeyFactors{Salt: "saltsaltsalt", Iters: 4096}
				creds := mustClient(t, tc.hash, "user", "secret").GetStoredCredentials(kf)
				srv, err := tc.hash.NewServer(func(string) (scram.StoredCredentials, error) { return creds, nil })
				if err != nil {
					t.Fatal(err)
				}
				sconv := srv.NewConversation()
				c := tc.gen()
				if _, err := c.Step("x"); err == nil {
					t.Fatal("Step before Begin succeeded")
				}
				if err := c.Begin("user", pw, ""); err != nil {
					t.Fatal(err)
				}
				msg, failed := "", false
				for !c.Done() && !failed {
					out, err := c.Step(msg)
					if err != nil {
						failed = true
						break
					}
					if c.Done() {
						break
					}
					if msg, err = sconv.Step(out); err != nil {
						failed = true
					}
				}
				if want := pw != "secret"; failed != want {
					t.Fatalf("failed = %v, want %v", failed, want)
				}
			})
		}
	}
}

func mustClient(t *testing.T, h scram.HashGeneratorFcn, user, pw string) *scram.Client {
	t.Helper()
	c, err := h.NewClient(user, pw, "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}
