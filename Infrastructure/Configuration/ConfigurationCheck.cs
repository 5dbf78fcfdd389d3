using Microsoft.Extensions.Options;

namespace Backstop.Infrastructure.Configuration;

/// <summary>Options that can say what is wrong with themselves, as sentences naming the configuration key.</summary>
public interface IValidatedOptions
{
    IEnumerable<string> Validate();
}

public sealed class InvalidConfigurationException(IReadOnlyList<string> problems)
    : Exception("Invalid configuration:" + Environment.NewLine + string.Join(Environment.NewLine, problems.Select(p => "  - " + p)))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}

/// <summary>
/// Binds and validates every registered options class at once, so an operator sees every bad key in one message
/// instead of fixing them one start at a time (ValidateOnStart stops at the first options class that fails).
/// </summary>
public sealed class ConfigurationCheck
{
    private readonly List<(string Section, Func<IServiceProvider, IValidatedOptions> Resolve)> entries = [];

    public void Add<T>(string section) where T : class, IValidatedOptions =>
        entries.Add((section, sp => sp.GetRequiredService<IOptions<T>>().Value));

    public IReadOnlyList<string> Problems(IServiceProvider services)
    {
        var problems = new List<string>();
        foreach (var (section, resolve) in entries)
        {
            try
            {
                problems.AddRange(resolve(services).Validate());
            }
            catch (InvalidOperationException e)
            {
                // The binder throws when a value cannot be converted ("abc" for a number): report it, keep checking.
                problems.Add($"{section}: {e.Message}");
            }
        }
        return problems;
    }

    public void ThrowIfInvalid(IServiceProvider services)
    {
        var problems = Problems(services);
        if (problems.Count > 0) throw new InvalidConfigurationException(problems);
    }
}

public static class ConfigurationCheckExtensions
{
    /// <summary>Binds <typeparamref name="T"/> to <paramref name="section"/> and adds it to the start-up check.</summary>
    public static IServiceCollection AddCheckedOptions<T>(this IServiceCollection services, string section)
        where T : class, IValidatedOptions
    {
        services.AddOptions<T>().BindConfiguration(section);
        Check(services).Add<T>(section);
        return services;
    }

    private static ConfigurationCheck Check(IServiceCollection services)
    {
        var existing = services.FirstOrDefault(d => d.ServiceType == typeof(ConfigurationCheck))?.ImplementationInstance;
        if (existing is ConfigurationCheck check) return check;
        check = new ConfigurationCheck();
        services.AddSingleton(check);
        return check;
    }
}
