'use strict';

// The peer comparison's workloads on bakerface's dynamodb-event-store 2.2.0
// (aws-sdk v2): a commit is one item, appended with a conditional PutItem;
// query and scan return one page each (the caller pages scan by commitId).

process.env.AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE = '1';
const EventStore = require('dynamodb-event-store');
const { main } = require('./runner');

let store;

main({
  async setup({ endpoint, table }) {
    store = new EventStore({
      endpoint,
      region: 'us-east-1',
      accessKeyId: 'local',
      secretAccessKey: 'local',
      tableName: table,
      indexName: 'commitsByCommitId',
    });
    await store.createTable();
  },

  // Events are stored as bakerface's README shows them: {type, ...fields}.
  async append(aggregateId, version, events) {
    try {
      await store.append({ aggregateId, version, events: events.map((e) => ({ type: e.type, ...e.data })) });
      return true;
    } catch (err) {
      if (err instanceof EventStore.VersionConflictError) {
        return false;
      }
      throw err;
    }
  },

  async readAggregate(aggregateId) {
    const commits = await store.query({ aggregateId, version: 0 });
    return commits.flatMap((c) => c.events);
  },

  // scan returns one page from a commitId on (inclusive): page on from the
  // last commitId seen until a page brings nothing new.
  async readAll() {
    const seen = new Set();
    let events = 0;
    let from;
    for (;;) {
      const commits = await store.scan(from === undefined ? undefined : { commitId: from });
      let fresh = 0;
      for (const c of commits) {
        const key = `${c.aggregateId}/${c.version}`;
        if (!seen.has(key)) {
          seen.add(key);
          fresh++;
          events += c.events.length;
        }
      }
      if (fresh === 0) {
        return events;
      }
      from = commits[commits.length - 1].commitId;
    }
  },
});
