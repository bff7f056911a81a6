// Package kafkasasl holds the SASL/SCRAM glue between sarama and
// xdg-go/scram that both the exporter and the dashstream CLI need: sarama
// defines the SCRAMClient interface but ships no implementation.
package kafkasasl

import (
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// NewSHA256 and NewSHA512 are sarama SCRAMClientGeneratorFuncs for
// SCRAM-SHA-256 and SCRAM-SHA-512.
func NewSHA256() sarama.SCRAMClient { return &client{hash: sha256.New} }

// NewSHA512: see NewSHA256.
func NewSHA512() sarama.SCRAMClient { return &client{hash: sha512.New} }

// client adapts xdg-go/scram to sarama.SCRAMClient; one per connection.
type client struct {
	hash func() hash.Hash
	conv *scram.ClientConversation
}

func (c *client) Begin(user, password, authzID string) error {
	cl, err := scram.HashGeneratorFcn(c.hash).NewClient(user, password, authzID)
	if err != nil {
		return fmt.Errorf("scram: %w", err)
	}
	c.conv = cl.NewConversation()
	return nil
}

func (c *client) Step(challenge string) (string, error) {
	if c.conv == nil {
		return "", errors.New("scram: Step before Begin")
	}
	return c.conv.Step(challenge)
}

func (c *client) Done() bool { return c.conv != nil && c.conv.Done() }
