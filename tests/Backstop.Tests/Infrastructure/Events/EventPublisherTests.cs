using Backstop.Infrastructure.Events;
using Backstop.Infrastructure.Outbox;

namespace Backstop.Tests.Infrastructure.Events;

public sealed class EventTypesTests
{
    [Theory]
    [InlineData(null, "meeting.created", true)]
    [InlineData("meeting.*", "meeting.created", true)]
    [InlineData("meeting.*", "subscription.canceled", false)]
    [InlineData("sms.delivered", "sms.delivered", true)]
    [InlineData("sms.delivered", "sms.failed", false)]
    [InlineData("*", "endpoint.disabled", true)]
    public void A_filter_matches_exact_types_and_prefixes(string? filter, string type, bool matches) =>
        EventTypes.Matches(filter is null ? null : [filter], type).ShouldBe(matches);

    [Theory]
    [InlineData("meeting.*", true)]
    [InlineData("meeting.created", true)]
    [InlineData("*", true)]
    [InlineData("meetings.*", false)]
    [InlineData("meeting.exploded", false)]
    [InlineData(".*", false)]
    public void A_filter_entry_must_name_the_catalogue(string entry, bool valid) =>
        EventTypes.IsValidFilter(entry).ShouldBe(valid);
}

public abstract class EventPublisherTests(BackstopFactory app) : AppTest(app)
{
    private async Task<string> EndpointAsync(string? organizationId, string? eventTypes, bool enabled = true)
    {
        var id = Ids.New(App.Time);
        await using var connection = await App.OpenAsync();
        await connection.ExecuteAsync(
            """
            insert into event_endpoints (id, organization_id, url, event_types, enabled, secret_protected, created_at, updated_at)
            values (@id, @organizationId, 'https://example.com/hook', @eventTypes, @enabled, 'x', @now, @now)
            """, new { id, organizationId, eventTypes, enabled, now = App.Time.GetUtcNow() });
        return id;
    }

    private Task<string> PublishAsync(string type, string? organizationId, object data) =>
        App.Service<Db>().InTransactionAsync((c, t) => App.Service<IEventPublisher>().PublishAsync(c, t, type, organizationId, data, CancellationToken.None));

    [Fact]
    public async Task A_committed_change_has_exactly_one_event_and_a_rolled_back_one_none()
    {
        var organizationId = "org_" + Guid.NewGuid().ToString("N");
        var committed = await PublishAsync(EventTypes.MeetingCreated, organizationId, new { id = "m1", status = "scheduled" });

        await Should.ThrowAsync<InvalidOperationException>(() => App.Service<Db>().InTransactionAsync(async (c, t) =>
        {
            await App.Service<IEventPublisher>().PublishAsync(c, t, EventTypes.MeetingDeleted, organizationId, new { id = "m1" }, CancellationToken.None);
            throw new InvalidOperationException("the change failed after its event was written");
        }));

        await using var connection = await App.OpenAsync();
        var rows = (await connection.QueryAsync<(string Id, string Type, long Sequence, string Data)>(
            "select id, type, sequence, data from events where organization_id = @organizationId", new { organizationId })).ToList();
        rows.Count.ShouldBe(1);
        rows[0].Id.ShouldBe(committed);
        rows[0].Id.ShouldStartWith("evt_");
        rows[0].Type.ShouldBe(EventTypes.MeetingCreated);
        rows[0].Sequence.ShouldBe(1);
        rows[0].Data.ShouldBe("""{"id":"m1","status":"scheduled"}""");

        // The rolled-back change gave its sequence number back: the next event is 2, no gap.
        await PublishAsync(EventTypes.MeetingDeleted, organizationId, new { id = "m1" });
        (await connection.QuerySingleAsync<long>("select max(sequence) from events where organization_id = @organizationId", new { organizationId })).ShouldBe(2);
    }

    [Fact]
    public async Task Concurrent_changes_of_one_organization_get_consecutive_sequence_numbers()
    {
        var organizationId = "org_" + Guid.NewGuid().ToString("N");
        await Task.WhenAll(Enumerable.Range(0, 25).Select(i => Task.Run(() => PublishAsync(EventTypes.ApiKeyCreated, organizationId, new { id = i }))));

        await using var connection = await App.OpenAsync();
        var sequences = (await connection.QueryAsync<long>("select sequence from events where organization_id = @organizationId order by sequence", new { organizationId })).ToList();
        sequences.ShouldBe(Enumerable.Range(1, 25).Select(i => (long)i).ToList());
    }

    [Fact]
    public async Task A_batch_takes_a_block_of_sequence_numbers_per_stream_in_order_interleaved_with_single_events_and_rolls_back_whole()
    {
        var a = "org_" + Guid.NewGuid().ToString("N");
        var b = "org_" + Guid.NewGuid().ToString("N");
        var ownA = await EndpointAsync(a, """["meeting.*"]""");
        var smsOnlyB = await EndpointAsync(b, """["sms.delivered"]""");
        await PublishAsync(EventTypes.MeetingCreated, a, new { id = "m0" });

        IReadOnlyList<EventToPublish> batch =
        [
            new(EventTypes.MeetingFailed, a, new { id = "m1" }), new(EventTypes.MeetingFailed, b, new { id = "m2" }),
            new(EventTypes.MeetingFailed, a, new { id = "m3" }), new(EventTypes.MeetingFailed, a, new { id = "m4" }),
        ];
        var ids = await App.Service<Db>().InTransactionAsync((c, t) => App.Service<IEventPublisher>().PublishManyAsync(c, t, batch, CancellationToken.None));
        ids.Count.ShouldBe(4);
        ids.Distinct().Count().ShouldBe(4);
        await PublishAsync(EventTypes.MeetingDeleted, a, new { id = "m5" });

        // A rolled-back batch leaves no event and gives its numbers back.
        await Should.ThrowAsync<InvalidOperationException>(() => App.Service<Db>().InTransactionAsync<int>(async (c, t) =>
        {
            await App.Service<IEventPublisher>().PublishManyAsync(c, t, [new(EventTypes.MeetingFailed, a, new { id = "gone" })], CancellationToken.None);
            throw new InvalidOperationException("the change failed after its events were written");
        }));
        await PublishAsync(EventTypes.MeetingDeleted, b, new { id = "m6" });

        await using var connection = await App.OpenAsync();
        var rowsA = (await connection.QueryAsync<(string Id, long Sequence, string Data)>(
            "select id, sequence, data from events where organization_id = @a order by sequence", new { a })).ToList();
        rowsA.Select(r => r.Sequence).ShouldBe([1L, 2, 3, 4, 5]);
        rowsA.Select(r => r.Data).ShouldBe([
            """{"id":"m0"}""", """{"id":"m1"}""", """{"id":"m3"}""", """{"id":"m4"}""", """{"id":"m5"}""",
        ]);
        rowsA.Skip(1).Take(3).Select(r => r.Id).ShouldBe([ids[0], ids[2], ids[3]]);
        var rowsB = (await connection.QueryAsync<(string Id, long Sequence)>(
            "select id, sequence from events where organization_id = @b order by sequence", new { b })).ToList();
        rowsB.Select(r => r.Sequence).ShouldBe([1L, 2]);
        rowsB[0].Id.ShouldBe(ids[1]);

        // Deliveries as for single events: a's meeting.* endpoint gets a's three, b's sms-only endpoint none.
        var keys = (await connection.QueryAsync<string>(
            "select idempotency_key from outbox_messages where channel = @channel and target in (@ownA, @smsOnlyB)",
            new { channel = EventDelivery.Channel, ownA, smsOnlyB })).ToList();
        keys.Where(k => k.EndsWith(smsOnlyB, StringComparison.Ordinal)).ShouldBeEmpty();
        keys.Where(k => k.StartsWith("event:" + ids[0], StringComparison.Ordinal) || k.StartsWith("event:" + ids[2], StringComparison.Ordinal)
                        || k.StartsWith("event:" + ids[3], StringComparison.Ordinal)).Order()
            .ShouldBe(new[] { ids[0], ids[2], ids[3] }.Select(id => EventDelivery.IdempotencyKey(id, ownA)).Order());
    }

    [Fact]
    public async Task An_event_is_enqueued_once_for_each_enabled_endpoint_whose_filter_and_organization_match()
    {
        var organizationId = "org_" + Guid.NewGuid().ToString("N");
        var other = "org_" + Guid.NewGuid().ToString("N");
        var own = await EndpointAsync(organizationId, """["meeting.*"]""");
        var ownSms = await EndpointAsync(organizationId, """["sms.delivered"]""");
        var others = await EndpointAsync(other, null);
        var disabled = await EndpointAsync(organizationId, null, enabled: false);

        var eventId = await PublishAsync(EventTypes.MeetingTranscribed, organizationId, new { id = "m2" });

        await using var connection = await App.OpenAsync();
        var messages = (await connection.QueryAsync<(string Key, string Payload, string? OrganizationId)>(
            "select idempotency_key, payload, organization_id from outbox_messages where reference = @eventId and channel = @channel",
            new { eventId, channel = EventDelivery.Channel })).ToList();
        // The operator's endpoints (organization null) created by other tests get it too; this organization's
        // filtered, disabled and other organizations' endpoints are what this test decides.
        var keys = messages.Select(m => m.Key).ToList();
        keys.ShouldContain(EventDelivery.IdempotencyKey(eventId, own));
        keys.ShouldNotContain(EventDelivery.IdempotencyKey(eventId, ownSms));
        keys.ShouldNotContain(EventDelivery.IdempotencyKey(eventId, others));
        keys.ShouldNotContain(EventDelivery.IdempotencyKey(eventId, disabled));
        messages.Single(m => m.Key == EventDelivery.IdempotencyKey(eventId, own)).OrganizationId.ShouldBe(organizationId);
    }

    [Fact]
    public async Task A_type_outside_the_catalogue_is_refused()
    {
        await Should.ThrowAsync<ArgumentException>(() => PublishAsync("meeting.exploded", null, new { }));
    }
}

public sealed class EventPublisherTestsOnSqlite(SqliteApp<DefaultSetup> app) : EventPublisherTests(app), IClassFixture<SqliteApp<DefaultSetup>>;

public sealed class EventPublisherTestsOnPostgres(PostgresApp<DefaultSetup> app) : EventPublisherTests(app), IClassFixture<PostgresApp<DefaultSetup>>;
