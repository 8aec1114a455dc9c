// Package kafka owns the consumer behind wake's Kafka triggers (Knative's
// KafkaSource): it joins the trigger's consumer group, turns each record
// into a CloudEvent, hands it to the trigger's Deliver func, and decides
// which offsets may be committed.
//
// # Delivery semantics: at least once, ordered
//
// An offset is committed only when every record before it in its partition
// was delivered (Outcome Delivered), dead-lettered by the Deliver func
// (DeadLettered) or produced to Config.DeadLetterTopic and acknowledged.
// Nothing is skipped: a record whose delivery ends Failed with no
// dead-letter topic stays where it is; its lane waits a backoff
// (RedeliveryBackoff, 1s by default, doubling up to MaxRedeliveryBackoff,
// 30s) and delivers it again, and nothing behind it in that lane is
// delivered meanwhile. Records are kept in memory for this, not re-fetched.
// A Cancelled delivery (revoke, shutdown) is not committed either, so the
// next owner of the partition delivers it again. Every event keeps its id,
// TOPIC/PARTITION/OFFSET, across retries, redeliveries and restarts, so a
// sink can deduplicate.
//
// Ordering is per lane. With api.OrderingPartition (the default) a
// partition is one lane: one delivery in flight, in offset order. With
// api.OrderingKey each record key of a partition is a lane (records without
// a key share one), lanes run in parallel up to MaxInFlightPerPartition (64)
// deliveries, and only the contiguous delivered prefix is committed.
// Partitions never wait for each other: each has its own lanes, and a
// partition with MaxBufferedPerPartition (1000) records outstanding stops
// being fetched until half of them are committable.
//
// # Rebalances and shutdown
//
// The group uses the cooperative-sticky balancer, so a rebalance revokes
// only the partitions that move. The poll loop blocks rebalances
// (kgo.BlockRebalanceOnPoll) only while it hands fetched records to
// partitions, which never waits on a delivery; so no record of a revoked
// partition is handed out after its revoke. On revoke, no new delivery of
// those partitions starts, in-flight ones get RebalanceGrace (10s) to
// finish and are then cancelled, what finished is committed synchronously,
// and only then is the partition released. A lost session (the member was
// expelled) cancels at once and commits nothing: the partitions may be
// someone else's already. Delivered offsets are also committed every
// CommitInterval (1s). Run, when its context ends, does the same as a
// revoke for every partition, leaves the group and closes the client;
// commits and the leave are bounded by 10s each and a Deliver that ignores
// its cancelled context is abandoned after 5s, so Run always returns.
//
// # Rate limit
//
// One token bucket (golang.org/x/time/rate, burst 50ms worth of events, at
// least 1) is shared by every
// partition of the trigger, and each delivery attempt takes a token.
// SetRateLimit changes it for the next event; deliveries already waiting
// re-wait under the new limit.
//
// # Events and dead letters
//
// The CloudEvent of a record is Knative KafkaSource's (see toEvent): type
// dev.knative.kafka.event, source
// /apis/v1/namespaces/NS/kafkasources/NAME#TOPIC, subject
// partition:P#OFFSET, the record's timestamp, the value as data, the key as
// the "key" extension, and headers whose names are valid extension names
// as extensions. A record sent to the dead-letter topic keeps its key,
// value and headers, and gains Knative's knativeerrordest, knativeerrorcode
// and knativeerrordata headers and kafkatopic, kafkapartition and
// kafkaoffset naming where it came from.
//
// # Metrics
//
// wake_trigger_kafka_lag{trigger,topic,partition}: records from the oldest
// not yet delivered to the high watermark of the partition's last fetch.
// A partition's series is deleted when it is revoked, and all the
// trigger's when Run returns. Delivered, retried and dead-lettered counters
// belong to the caller, which sees every Result.
package kafka
