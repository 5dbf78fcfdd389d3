using System.Text;
using Microsoft.Extensions.DependencyInjection;

namespace Backstop.Tests.Infrastructure.Inbox;

/// <summary>Every route: signed deliveries are stored and processed once; unsigned, badly signed or stale ones leave nothing.</summary>
public abstract class WebhookDeliveryTests(BackstopFactory app) : AppTest(app), IAsyncLifetime
{
    public async ValueTask InitializeAsync() => await WebhookTestServices.EnsureEffectsTableAsync(App);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    public static TheoryData<string> Routes => new(Deliveries.Routes);

    private async Task<long> StoredAsync(string route, string id)
    {
        await using var connection = await App.OpenAsync();
        return await connection.ExecuteScalarAsync<long>(
            "select count(*) from webhook_events where provider = @provider and event_id = @eventId",
            new { provider = Deliveries.Provider(route), eventId = Deliveries.StoredEventId(route, id) });
    }

    private async Task<long> EffectsAsync(string route, string id)
    {
        await using var connection = await App.OpenAsync();
        return await connection.ExecuteScalarAsync<long>(
            "select count(*) from webhook_test_effects where event_id = @eventId", new { eventId = Deliveries.StoredEventId(route, id) });
    }

    [Theory]
    [MemberData(nameof(Routes))]
    public async Task A_correctly_signed_event_is_acknowledged_stored_and_processed(string route)
    {
        var id = Deliveries.NewId(route);

        var response = await App.CreateClient().SendAsync(Deliveries.Build(route, id, App.Time.GetUtcNow()));

        response.StatusCode.ShouldBe(HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        await using var connection = await App.OpenAsync();
        var row = await connection.QuerySingleAsync<(string Status, long Attempts, string Payload)>(
            "select status, attempts, payload from webhook_events where provider = @provider and event_id = @eventId",
            new { provider = Deliveries.Provider(route), eventId = Deliveries.StoredEventId(route, id) });
        row.Status.ShouldBe("processed");
        row.Attempts.ShouldBe(1);
        (await EffectsAsync(route, id)).ShouldBe(1);
        if (route.StartsWith("twilio", StringComparison.Ordinal))
        {
            // Form fields are stored as a JSON object.
            row.Payload.ShouldContain($"\"MessageSid\":\"{id}\"");
            response.Content.Headers.ContentType!.MediaType.ShouldBe("text/xml");
        }
    }

    [Theory]
    [InlineData("deepgram", 100_000, "test.effect")]
    [InlineData("paddle", 256, "test.effect")]
    [InlineData("paddle", 30, "x")] // the type below: 50,000 characters
    [InlineData("stripe", 30, "nul")]
    public async Task A_signed_event_with_an_oversized_or_control_character_id_or_type_is_refused_and_nothing_is_stored(string route, int idLength, string type)
    {
        var id = Deliveries.NewId(route);
        id = id.Length >= idLength ? id[..idLength] : id + new string('a', idLength - id.Length);
        type = type switch { "x" => new string('x', 50_000), "nul" => "invoice.paid\u0000", _ => type };

        var response = await App.CreateClient().SendAsync(Deliveries.Build(route, id, App.Time.GetUtcNow(), type: type));

        await response.ShouldBeProblemAsync(400, "invalid_payload");
        await using var connection = await App.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("select count(*) from webhook_events where length(event_id) > 255 or length(event_type) > 255")).ShouldBe(0);
        (await StoredAsync(route, id)).ShouldBe(0);
    }

    [Fact]
    public async Task An_event_id_of_255_characters_is_accepted()
    {
        var id = Deliveries.NewId("paddle");
        id += new string('a', 255 - id.Length);
        (await App.CreateClient().SendAsync(Deliveries.Build("paddle", id, App.Time.GetUtcNow()))).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await StoredAsync("paddle", id)).ShouldBe(1);
    }

    [Theory]
    [MemberData(nameof(Routes))]
    public async Task A_badly_signed_event_is_refused_and_nothing_is_stored(string route)
    {
        var id = Deliveries.NewId(route);

        var response = await App.CreateClient().SendAsync(Deliveries.Build(route, id, App.Time.GetUtcNow(), signing: Deliveries.Signing.Bad));

        var (status, code) = route switch
        {
            "deepgram" => (401, "invalid_token"),
            "twilio-sms" or "twilio-status" => (403, "invalid_signature"),
            _ => (400, "invalid_signature"),
        };
        await response.ShouldBeProblemAsync(status, code);
        (await StoredAsync(route, id)).ShouldBe(0);
    }

    [Theory]
    [InlineData("stripe")]
    [InlineData("clerk")]
    [InlineData("recall")]
    [InlineData("paddle")]
    public async Task A_stale_signature_is_refused_and_nothing_is_stored(string route)
    {
        var id = Deliveries.NewId(route);

        var response = await App.CreateClient().SendAsync(Deliveries.Build(route, id, App.Time.GetUtcNow(), signing: Deliveries.Signing.Stale));

        await response.ShouldBeProblemAsync(400, "stale_signature");
        (await StoredAsync(route, id)).ShouldBe(0);
    }

    [Theory]
    [InlineData("stripe", "Stripe-Signature")]
    [InlineData("clerk", "svix-signature")]
    [InlineData("recall", "webhook-signature")]
    [InlineData("paddle", "Paddle-Signature")]
    [InlineData("twilio-sms", "X-Twilio-Signature")]
    public async Task A_delivery_without_signature_is_refused_with_400(string route, string header)
    {
        var id = Deliveries.NewId(route);
        var request = Deliveries.Build(route, id, App.Time.GetUtcNow());
        request.Headers.Remove(header);

        var response = await App.CreateClient().SendAsync(request);

        ((int)response.StatusCode).ShouldBe(400);
        (await StoredAsync(route, id)).ShouldBe(0);
    }

    [Fact]
    public async Task A_deepgram_callback_without_token_is_refused()
    {
        var id = Deliveries.NewId("deepgram");
        var request = Deliveries.Build("deepgram", id, App.Time.GetUtcNow());
        request.RequestUri = new Uri("/webhooks/deepgram", UriKind.Relative);

        await (await App.CreateClient().SendAsync(request)).ShouldBeProblemAsync(401, "invalid_token");
        (await StoredAsync("deepgram", id)).ShouldBe(0);
    }

    [Theory]
    [MemberData(nameof(Routes))]
    public async Task The_same_event_delivered_twice_is_processed_once(string route)
    {
        var id = Deliveries.NewId(route);
        var client = App.CreateClient();

        var first = await client.SendAsync(Deliveries.Build(route, id, App.Time.GetUtcNow()));
        App.Time.Advance(TimeSpan.FromSeconds(30)); // a provider's retry, freshly signed
        var second = await client.SendAsync(Deliveries.Build(route, id, App.Time.GetUtcNow()));

        first.StatusCode.ShouldBe(HttpStatusCode.OK);
        second.StatusCode.ShouldBe(HttpStatusCode.OK);
        if (!route.StartsWith("twilio", StringComparison.Ordinal))
        {
            (await first.JsonAsync()).GetProperty("duplicate").GetBoolean().ShouldBeFalse();
            (await second.JsonAsync()).GetProperty("duplicate").GetBoolean().ShouldBeTrue();
        }
        (await StoredAsync(route, id)).ShouldBe(1);
        (await EffectsAsync(route, id)).ShouldBe(1);
        App.Service<EffectLog>().Calls[Deliveries.StoredEventId(route, id)].ShouldBe(1);
    }

    [Fact]
    public async Task Thirty_concurrent_deliveries_of_one_event_store_one_row_and_take_effect_once()
    {
        var id = Deliveries.NewId("stripe");
        var now = App.Time.GetUtcNow();
        var client = App.CreateClient();

        var responses = await Task.WhenAll(Enumerable.Range(0, 30).Select(_ => Task.Run(() => client.SendAsync(Deliveries.Build("stripe", id, now)))));

        responses.ShouldAllBe(r => r.StatusCode == HttpStatusCode.OK);
        var duplicates = 0;
        foreach (var r in responses) if ((await r.JsonAsync()).GetProperty("duplicate").GetBoolean()) duplicates++;
        duplicates.ShouldBe(29);
        (await StoredAsync("stripe", id)).ShouldBe(1);
        (await EffectsAsync("stripe", id)).ShouldBe(1);
        App.Service<EffectLog>().Calls[id].ShouldBe(1);
    }

    [Fact]
    public async Task Twilio_inbound_sms_is_answered_with_the_registered_reply_for_duplicates_too()
    {
        var id = Deliveries.NewId("twilio-sms");
        var client = App.CreateClient();

        var first = await client.SendAsync(Deliveries.Build("twilio-sms", id, App.Time.GetUtcNow()));
        var second = await client.SendAsync(Deliveries.Build("twilio-sms", id, App.Time.GetUtcNow()));

        foreach (var response in new[] { first, second })
        {
            response.StatusCode.ShouldBe(HttpStatusCode.OK);
            response.Content.Headers.ContentType!.MediaType.ShouldBe("text/xml");
            (await response.Content.ReadAsStringAsync()).ShouldBe(
                $"""<?xml version="1.0" encoding="UTF-8"?><Response><Message>Thanks for {id}</Message></Response>""");
        }
    }

    [Fact]
    public async Task Twilio_status_callbacks_are_answered_with_empty_twiml_and_keyed_by_message_and_status()
    {
        var id = Deliveries.NewId("twilio-status");

        var response = await App.CreateClient().SendAsync(Deliveries.Build("twilio-status", id, App.Time.GetUtcNow()));

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        (await response.Content.ReadAsStringAsync()).ShouldBe("""<?xml version="1.0" encoding="UTF-8"?><Response/>""");
        await using var connection = await App.OpenAsync();
        (await connection.ExecuteScalarAsync<string>("select event_type from webhook_events where event_id = @eventId", new { eventId = id + ":delivered" }))
            .ShouldBe("sms.status");
    }

    [Fact]
    public async Task A_twilio_form_beyond_the_form_reader_limits_is_a_400_not_a_500()
    {
        var fields = string.Join("&", Enumerable.Range(0, 1100).Select(i => $"F{i}=x"));
        var request = new HttpRequestMessage(HttpMethod.Post, "/webhooks/twilio/sms")
        {
            Content = new StringContent(fields, Encoding.UTF8, "application/x-www-form-urlencoded"),
        };
        request.Headers.TryAddWithoutValidation("X-Twilio-Signature", "AAAA");

        await (await App.CreateClient().SendAsync(request)).ShouldBeProblemAsync(400, "invalid_payload");
    }

    [Fact]
    public async Task A_body_over_one_mebibyte_is_refused_with_413_and_not_stored()
    {
        var body = "{\"id\":\"evt_big\",\"pad\":\"" + new string('x', 1024 * 1024) + "\"}";
        var request = new HttpRequestMessage(HttpMethod.Post, "/webhooks/stripe") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.TryAddWithoutValidation("Stripe-Signature", "t=1,v1=00");

        await (await App.CreateClient().SendAsync(request)).ShouldBeProblemAsync(413, "payload_too_large");

        // Without a Content-Length (chunked), the limit still holds while reading.
        var chunked = new HttpRequestMessage(HttpMethod.Post, "/webhooks/paddle") { Content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(body))) };
        chunked.Headers.TransferEncodingChunked = true;
        await (await App.CreateClient().SendAsync(chunked)).ShouldBeProblemAsync(413, "payload_too_large");
    }

    [Fact]
    public async Task An_event_type_without_handler_is_stored_as_ignored_and_acknowledged()
    {
        var id = Deliveries.NewId("clerk");

        var response = await App.CreateClient().SendAsync(Deliveries.Build("clerk", id, App.Time.GetUtcNow(), type: "session.created"));

        response.StatusCode.ShouldBe(HttpStatusCode.OK);
        await using var connection = await App.OpenAsync();
        (await connection.ExecuteScalarAsync<string>("select status from webhook_events where provider = 'clerk' and event_id = @id", new { id }))
            .ShouldBe("ignored");
    }

    [Fact]
    public async Task Metrics_count_received_duplicate_rejected_and_processed_by_provider()
    {
        var id = Deliveries.NewId("paddle");
        var client = App.CreateClient();
        await client.SendAsync(Deliveries.Build("paddle", id, App.Time.GetUtcNow()));
        await client.SendAsync(Deliveries.Build("paddle", id, App.Time.GetUtcNow()));
        await client.SendAsync(Deliveries.Build("paddle", Deliveries.NewId("paddle"), App.Time.GetUtcNow(), signing: Deliveries.Signing.Bad));

        var metrics = await (await client.GetAsync("/metrics")).Content.ReadAsStringAsync();

        metrics.ShouldContain("backstop_webhooks_received_total{provider=\"paddle\"}");
        metrics.ShouldContain("backstop_webhooks_duplicate_total{provider=\"paddle\"}");
        metrics.ShouldContain("backstop_webhooks_rejected_total{provider=\"paddle\"}");
        metrics.ShouldContain("backstop_webhooks_processed_total{provider=\"paddle\",outcome=\"processed\"}");
    }
}

public sealed class WebhookDeliveryTestsSetup : AppSetup
{
    public override void Configure(Dictionary<string, string?> settings) => Deliveries.Configure(settings);
    public override void ConfigureServices(IServiceCollection services) => WebhookTestServices.Add(services);
}

public sealed class WebhookDeliveryTestsOnSqlite(SqliteApp<WebhookDeliveryTestsSetup> app) : WebhookDeliveryTests(app), IClassFixture<SqliteApp<WebhookDeliveryTestsSetup>>;

public sealed class WebhookDeliveryTestsOnPostgres(PostgresApp<WebhookDeliveryTestsSetup> app) : WebhookDeliveryTests(app), IClassFixture<PostgresApp<WebhookDeliveryTestsSetup>>;

/// <summary>With no provider configured, every route fails closed.</summary>
public abstract class UnconfiguredWebhookTests(BackstopFactory app) : AppTest(app)
{
    [Theory]
    [MemberData(nameof(WebhookDeliveryTests.Routes), MemberType = typeof(WebhookDeliveryTests))]
    public async Task An_unconfigured_provider_answers_503_and_stores_nothing(string route)
    {
        var id = Deliveries.NewId(route);

        var response = await App.CreateClient().SendAsync(Deliveries.Build(route, id, App.Time.GetUtcNow()));

        await response.ShouldBeProblemAsync(503, "provider_not_configured");
        await using var connection = await App.OpenAsync();
        (await connection.ExecuteScalarAsync<long>("select count(*) from webhook_events where event_id = @eventId",
            new { eventId = Deliveries.StoredEventId(route, id) })).ShouldBe(0);
    }
}

public sealed class UnconfiguredWebhookTestsOnSqlite(SqliteApp<DefaultSetup> app) : UnconfiguredWebhookTests(app), IClassFixture<SqliteApp<DefaultSetup>>;

public sealed class UnconfiguredWebhookTestsOnPostgres(PostgresApp<DefaultSetup> app) : UnconfiguredWebhookTests(app), IClassFixture<PostgresApp<DefaultSetup>>;
