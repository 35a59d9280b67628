import { setImmediate as nextCheck } from 'node:timers/promises';
import { createActor, createMachine, type InspectionEvent } from 'xstate';
import { describe, expect, it, vi } from 'vitest';
import { drainObservers, observeAfterIo } from '../src/conversations/observe-after-io.js';

const machine = createMachine({ id: 'm', initial: 'a', states: { a: { on: { GO: 'b' } }, b: { on: { GO: 'a' } } } });

/** What an observer saw of the root's events: their type and whether their actor was active when it saw them. */
function recorder(): { observe: (event: InspectionEvent) => void; seen: string[] } {
  const seen: string[] = [];
  const observe = (event: InspectionEvent) => {
    if (event.type === '@xstate.event' && event.actorRef.sessionId === event.rootId) seen.push(`${event.event.type} ${event.actorRef.getSnapshot().status}`);
  };
  return { observe, seen };
}

const twoLoopIterations = async () => {
  await nextCheck();
  await nextCheck();
};

describe('inspection observers run after the I/O', () => {
  it('after an immediate booked later in the same loop turn (a request undici writes then), in the order of the events', async () => {
    const { observe, seen } = recorder();
    const order: string[] = [];
    const actor = createActor(machine, { inspect: observeAfterIo((event) => { observe(event); if (event.type === '@xstate.event') order.push('observer'); }, () => undefined) });
    actor.start();
    actor.send({ type: 'GO' });
    actor.send({ type: 'GO' });
    // Booked after the events, from a microtask, as undici books its idle-socket check.
    await Promise.resolve();
    setImmediate(() => order.push('request written'));
    expect(seen).toEqual([]);
    await twoLoopIterations();
    expect(order[0]).toBe('request written');
    expect(seen).toEqual(['xstate.init active', 'GO active', 'GO active']);
    actor.stop();
  });

  it('sees the actor as it was when the event was reported: active before its stop, stopped after it', async () => {
    const { observe, seen } = recorder();
    const actor = createActor(machine, { inspect: observeAfterIo(observe, () => undefined) });
    actor.start();
    actor.send({ type: 'GO' });
    actor.stop();
    // XState reports an event sent to a stopped actor, then drops it (with a warning).
    const warned = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    actor.send({ type: 'GO' });
    expect(warned).toHaveBeenCalledOnce();
    warned.mockRestore();
    expect(actor.getSnapshot().status).toBe('stopped');
    await twoLoopIterations();
    expect(seen).toEqual(['xstate.init active', 'GO active', 'GO stopped']);
  });

  it('hands what an observer throws to onError, and goes on with the next event', async () => {
    const onError = vi.fn();
    const { observe, seen } = recorder();
    let thrown = false;
    const actor = createActor(machine, {
      inspect: observeAfterIo((event) => {
        if (!thrown && event.type === '@xstate.event' && event.event.type === 'GO') {
          thrown = true;
          throw new Error('observer broke');
        }
        observe(event);
      }, onError),
    });
    actor.start();
    actor.send({ type: 'GO' });
    actor.send({ type: 'GO' });
    await twoLoopIterations();
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ message: 'observer broke' }));
    expect(seen).toEqual(['xstate.init active', 'GO active']);
    actor.stop();
  });

  it('runs what is queued at once on drainObservers (a stopping node, before it closes the journal)', () => {
    const { observe, seen } = recorder();
    const actor = createActor(machine, { inspect: observeAfterIo(observe, () => undefined) });
    actor.start();
    actor.send({ type: 'GO' });
    drainObservers();
    expect(seen).toEqual(['xstate.init active', 'GO active']);
    actor.stop();
  });
});
