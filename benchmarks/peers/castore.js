'use strict';

// The peer comparison's workloads on @castore/event-storage-adapter-dynamodb
// 2.4.2 (DynamoDBSingleTableEventStorageAdapter, aws-sdk v3) under
// @castore/core's EventStore: one item per event, versions from 1.
//
// A commit of one event is pushEvent (a conditional PutItem). Castore has
// no multi-event append on one aggregate; its closest equivalent of a
// 10-event commit, all or nothing, is EventStore.pushEventGroup of the 10
// events (one TransactWriteItems). Reading everything is listAggregateIds
// (the initialEvents index) and then getEvents of each aggregate.

const { CreateTableCommand, DynamoDBClient } = require('@aws-sdk/client-dynamodb');
const { EventStore, isEventAlreadyExistsError } = require('@castore/core');
const { DynamoDBSingleTableEventStorageAdapter } = require('@castore/event-storage-adapter-dynamodb');
const { main } = require('./runner');

let store;

async function createTable(client, table) {
  const S = 'S';
  await client.send(new CreateTableCommand({
    TableName: table,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: 'aggregateId', AttributeType: S },
      { AttributeName: 'version', AttributeType: 'N' },
      { AttributeName: 'eventStoreId', AttributeType: S },
      { AttributeName: 'timestamp', AttributeType: S },
    ],
    KeySchema: [
      { AttributeName: 'aggregateId', KeyType: 'HASH' },
      { AttributeName: 'version', KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [{
      IndexName: 'initialEvents',
      KeySchema: [
        { AttributeName: 'eventStoreId', KeyType: 'HASH' },
        { AttributeName: 'timestamp', KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'KEYS_ONLY' },
    }],
  }));
}

main({
  async setup({ endpoint, table }) {
    const client = new DynamoDBClient({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    await createTable(client, table);
    store = new EventStore({
      eventStoreId: 'ACCOUNTS',
      eventTypes: [],
      reducer: (aggregate, event) => ({ aggregateId: event.aggregateId, version: event.version }),
      eventStorageAdapter: new DynamoDBSingleTableEventStorageAdapter({ tableName: table, dynamoDBClient: client }),
    });
  },

  async append(aggregateId, version, events) {
    const details = events.map((e, i) => ({ aggregateId, version: version + i + 1, type: e.type, payload: e.data }));
    try {
      if (details.length === 1) {
        await store.pushEvent(details[0]);
      } else {
        await EventStore.pushEventGroup(...details.map((d) => store.groupEvent(d)));
      }
      return true;
    } catch (err) {
      if (isEventAlreadyExistsError(err)) {
        return false;
      }
      throw err;
    }
  },

  async readAggregate(aggregateId) {
    const { events } = await store.getEvents(aggregateId);
    return events;
  },

  async readAll(concurrency) {
    const ids = [];
    let pageToken;
    do {
      const page = await store.listAggregateIds(pageToken === undefined ? {} : { pageToken });
      ids.push(...page.aggregateIds.map((a) => a.aggregateId));
      pageToken = page.nextPageToken;
    } while (pageToken !== undefined);
    let events = 0;
    let next = 0;
    const worker = async () => {
      while (next < ids.length) {
        const id = ids[next++];
        const read = await store.getEvents(id);
        events += read.events.length;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return events;
  },
});
