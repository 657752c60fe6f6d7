import { describe, expect, it } from 'vitest'
import { makePending, markFailed, markSending, newClientId, outcomeOf, settle } from '../src/lib/outbox'
import { message } from './factories'

describe('the outbox', () => {
  it('makes client ids the server accepts, all different', () => {
    const ids = new Set(Array.from({ length: 100 }, newClientId))
    expect(ids.size).toBe(100)
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_.:-]{1,64}$/)
  })

  it('reads acks: sent, refused, or none at all', () => {
    const m = message(1, 'ana')
    expect(outcomeOf({ ok: true, message: m, duplicate: false })).toEqual({ kind: 'sent', message: m })
    expect(outcomeOf({ ok: false, error: { code: 'not_member', message: 'Join first.' } })).toEqual({
      kind: 'failed',
      error: 'Join first.',
    })
    expect(outcomeOf({ ok: false, error: { code: 'rate_limited', message: 'Slow down.', retry_after: 2.2 } })).toEqual({
      kind: 'failed',
      error: 'Slow down. (wait 3 s)',
    })
    expect(outcomeOf(null)).toEqual({ kind: 'failed', error: 'No answer from the server.' })
  })

  it('settles pending messages that the server confirmed, matching sender and client id', () => {
    const a = makePending('r', 'hello', null)
    const b = makePending('r', 'again', null)
    const mine = message(5, 'ana', 'hello', { client_id: a.client_id })
    const theirs = message(6, 'bob', 'again', { client_id: b.client_id })
    expect(settle([a, b], [mine, theirs], 'ana')).toEqual([b])
  })

  it('marks one failed and back to sending for a retry with the same client id', () => {
    const a = makePending('r', 'hello', 'bob')
    const b = makePending('r', 'other', null)
    const failed = markFailed([a, b], a.client_id, 'No answer from the server.')
    expect(failed[0]).toMatchObject({ status: 'failed', error: 'No answer from the server.', client_id: a.client_id })
    expect(failed[1]).toBe(b)
    expect(markSending(failed, a.client_id)[0]).toMatchObject({ status: 'sending', error: null, client_id: a.client_id })
  })
})
