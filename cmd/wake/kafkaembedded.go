package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
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
func startEmbeddedKafka(ctx context.Context, addr, stateDir string, log *zap.Logger) (*kfake.Cluster, error) {
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
	go persistNewTopics(ctx, c.ListenAddrs()[0], 500*time.Millisecond, log)
	return c, nil
}

// persistNewTopics makes topics the embedded broker created on first use
// durable. kfake writes its topic list to disk when a topic is created by
// a CreateTopics request or its config changes, but not when a produce or
// metadata request creates it, so after a crash such a topic and its
// records would be forgotten. Every interval this lists the topics and
// sends an empty IncrementalAlterConfigs for each one not seen before,
// which has kfake write the list. A topic created less than an interval
// before a crash can still be lost; create topics ahead of use (as one
// does with a production broker) to close that window.
func persistNewTopics(ctx context.Context, addr string, interval time.Duration, log *zap.Logger) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		log.Error("watching the embedded broker's topics", zap.Error(err))
		return
	}
	defer cl.Close()
	seen := map[string]bool{}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		meta := kmsg.NewPtrMetadataRequest() // no topics: all of them
		if resp, err := meta.RequestWith(ctx, cl); err == nil {
			alter := kmsg.NewPtrIncrementalAlterConfigsRequest()
			for _, t := range resp.Topics {
				if t.Topic == nil || seen[*t.Topic] || t.ErrorCode != 0 {
					continue
				}
				r := kmsg.NewIncrementalAlterConfigsRequestResource()
				r.ResourceType = kmsg.ConfigResourceTypeTopic
				r.ResourceName = *t.Topic
				alter.Resources = append(alter.Resources, r)
			}
			if len(alter.Resources) > 0 {
				if _, err := alter.RequestWith(ctx, cl); err == nil {
					for _, r := range alter.Resources {
						seen[r.ResourceName] = true
					}
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
