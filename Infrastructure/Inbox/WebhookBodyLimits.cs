namespace Backstop.Infrastructure.Inbox;

/// <summary>
/// <c>Webhooks:MaxBodyBytes:&lt;provider&gt;</c>: the largest body accepted from each provider. Deepgram's callback
/// carries a whole transcript (an hour of speech with words and speakers is several MB), so it gets 64 MiB; the
/// others send small events and keep 1 MiB. <see cref="RequestBodyLimits"/> applies them per request.
/// </summary>
internal sealed class WebhookBodyLimits
{
    public const long OneMiB = 1024 * 1024;
    public const long Ceiling = 1024 * OneMiB;

    public long Stripe { get; set; } = OneMiB;
    public long Clerk { get; set; } = OneMiB;
    public long Recall { get; set; } = OneMiB;
    public long Deepgram { get; set; } = 64 * OneMiB;
    public long Paddle { get; set; } = OneMiB;
    public long Twilio { get; set; } = OneMiB;

    /// <summary>The limit of one provider (the names <see cref="WebhookProviders.ProviderOf"/> answers).</summary>
    public long For(string provider) => provider switch
    {
        "stripe" => Stripe,
        "clerk" => Clerk,
        "recall" => Recall,
        "deepgram" => Deepgram,
        "paddle" => Paddle,
        "twilio" => Twilio,
        _ => OneMiB,
    };

    /// <summary>The largest of them: what the server as a whole must accept.</summary>
    public long Max => new[] { Stripe, Clerk, Recall, Deepgram, Paddle, Twilio }.Max();

    public IEnumerable<string> Validate()
    {
        foreach (var (name, value) in new[] { ("Stripe", Stripe), ("Clerk", Clerk), ("Recall", Recall), ("Deepgram", Deepgram), ("Paddle", Paddle), ("Twilio", Twilio) })
            if (value is < 1024 or > Ceiling)
                yield return $"Webhooks:MaxBodyBytes:{name} must be between 1024 and {Ceiling} (1 GiB).";
    }
}
