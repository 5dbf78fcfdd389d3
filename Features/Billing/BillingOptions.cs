namespace Backstop.Features.Billing;

/// <summary>Section <c>Billing</c>: the default plan, dunning and grace, reconciliation and downgrade policy.</summary>
internal sealed class BillingOptions : IValidatedOptions
{
    public const string Section = "Billing";

    /// <summary>The plan code an organization without a (live) subscription gets.</summary>
    public string DefaultPlan { get; set; } = "free";

    /// <summary>Days from the first failed payment until a past-due subscription is suspended.</summary>
    public int GraceDays { get; set; } = 7;

    /// <summary>Where a customer updates their card: put in dunning emails and in 402 problems.</summary>
    public string? UpdatePaymentUrl { get; set; }

    /// <summary>Where dispute alerts go (besides the organization's owners); empty: owners only.</summary>
    public string? AlertEmail { get; set; }

    /// <summary><c>report</c> (record differences with Stripe) or <c>repair</c> (also take Stripe's values).</summary>
    public string Reconcile { get; set; } = "repair";

    /// <summary><c>violations</c> (a downgrade that exceeds the new plan is allowed and its violations stored) or <c>refuse</c> (409 <c>downgrade_blocked</c>).</summary>
    public string DowngradePolicy { get; set; } = "violations";

    /// <summary>Days an organization over its storage limit after a downgrade may still record and upload.</summary>
    public int StorageGraceDays { get; set; } = 30;

    public bool Repair => string.Equals(Reconcile, "repair", StringComparison.OrdinalIgnoreCase);

    public bool RefuseViolatingDowngrades => string.Equals(DowngradePolicy, "refuse", StringComparison.OrdinalIgnoreCase);

    public IEnumerable<string> Validate()
    {
        if (string.IsNullOrWhiteSpace(DefaultPlan)) yield return "Billing:DefaultPlan must name a plan code.";
        if (GraceDays is < 0 or > 90) yield return "Billing:GraceDays must be between 0 and 90.";
        if (!string.IsNullOrWhiteSpace(UpdatePaymentUrl) && !(Uri.TryCreate(UpdatePaymentUrl.Trim(), UriKind.Absolute, out var u) && u.Scheme is "http" or "https"))
            yield return $"Billing:UpdatePaymentUrl must be an absolute http(s) URL (got '{UpdatePaymentUrl}').";
        if (!string.IsNullOrWhiteSpace(AlertEmail) && !AlertEmail.Contains('@')) yield return "Billing:AlertEmail must be an email address.";
        if (Reconcile is not ("report" or "repair")) yield return $"Billing:Reconcile must be 'report' or 'repair' (got '{Reconcile}').";
        if (DowngradePolicy is not ("violations" or "refuse")) yield return $"Billing:DowngradePolicy must be 'violations' or 'refuse' (got '{DowngradePolicy}').";
        if (StorageGraceDays is < 0 or > 365) yield return "Billing:StorageGraceDays must be between 0 and 365.";
    }
}
