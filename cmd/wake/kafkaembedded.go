package main

import (
	"fmt"
	"net"
	"path/filepath"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap"
)

// kafkaEmbeddedPartitions is how many partitions a topic gets when the
// embedded broker creates it on first use: enough for a trigger's
// deliveries to run in parallel on this machine's cores.
const kafkaEmbeddedPartitions = 4

// startEmbeddedKafka runs a one-broker Kafka (franz-go's kfake: the Kafka
// wire protocol, consumer groups, commits and transactions in process)
// listening on addr, with its logs and offsets under stateDir/kafka so
// that they outlive a restart. Topics are created on first use. It is for
// demos, tests and users without a broker, not for production data.
func startEmbeddedKafka(addr, stateDir string, log *zap.Logger) (*kfake.Cluster, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--kafka-embedded: %w", err)
	}
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.ListenFn(func(string, string) (net.Listener, error) { return ln, nil }),
		kfake.DataDir(filepath.Join(stateDir, "kafka")),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(kafkaEmbeddedPartitions),
	)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("--kafka-embedded: starting the broker: %w", err)
	}
	log.Info("embedded Kafka broker listening", zap.Strings("addrs", c.ListenAddrs()))
	return c, nil
}
