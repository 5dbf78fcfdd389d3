using System.ComponentModel;
using System.Reflection;

namespace Backstop.Infrastructure.Configuration;

/// <summary>Options that can say what is wrong with themselves, as sentences naming the configuration key.</summary>
internal interface IValidatedOptions
{
    IEnumerable<string> Validate();
}

internal sealed class InvalidConfigurationException(IReadOnlyList<string> problems)
    : Exception("Invalid configuration:" + Environment.NewLine + string.Join(Environment.NewLine, problems.Select(p => "  - " + p)))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}

/// <summary>
/// Checks every registered options class at once, so an operator sees every bad key in one message instead of
/// fixing them one start at a time: <c>ValidateOnStart</c> stops at the first class that fails, and the binder at
/// the first value it cannot convert.
/// </summary>
internal sealed class ConfigurationCheck
{
    private readonly List<(string Section, Type Type)> entries = [];
    private readonly List<Func<IConfiguration, IEnumerable<string>>> rules = [];

    public void Add<T>(string section) where T : class, IValidatedOptions, new() => entries.Add((section, typeof(T)));

    /// <summary>A rule across sections (a top-level key, a fallback from one section to another).</summary>
    public void AddRule(Func<IConfiguration, IEnumerable<string>> rule) => rules.Add(rule);

    public IReadOnlyList<string> Problems(IConfiguration configuration)
    {
        var problems = new List<string>();
        foreach (var (sectionName, type) in entries)
        {
            var section = configuration.GetSection(sectionName);
            var unconvertible = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
            {
                var target = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
                if (!(target.IsPrimitive || target.IsEnum || target == typeof(TimeSpan) || target == typeof(decimal))) continue;
                var value = section[property.Name];
                if (value is null || TypeDescriptor.GetConverter(target).IsValid(value)) continue;
                problems.Add($"{sectionName}:{property.Name} must be {Describe(target)} (got '{value}').");
                unconvertible.Add(property.Name);
            }

            // Bind what converts, so the rules of the options class still run over the rest.
            var convertible = section.AsEnumerable(makePathsRelative: true)
                .Where(kv => kv.Value is not null && !unconvertible.Contains(kv.Key.Split(':')[0]));
            var options = (IValidatedOptions)Activator.CreateInstance(type)!;
            try
            {
                new ConfigurationBuilder().AddInMemoryCollection(convertible).Build().Bind(options);
                problems.AddRange(options.Validate());
            }
            catch (InvalidOperationException e)
            {
                problems.Add($"{sectionName}: {e.Message}");
            }
        }
        foreach (var rule in rules) problems.AddRange(rule(configuration));
        return problems;
    }

    public void ThrowIfInvalid(IConfiguration configuration)
    {
        var problems = Problems(configuration);
        if (problems.Count > 0) throw new InvalidConfigurationException(problems);
    }

    private static string Describe(Type type) => type switch
    {
        _ when type == typeof(bool) => "true or false",
        _ when type == typeof(int) || type == typeof(long) => "a whole number",
        _ when type == typeof(TimeSpan) => "a duration (hh:mm:ss)",
        _ when type.IsEnum => "one of " + string.Join(", ", Enum.GetNames(type)),
        _ => "a number",
    };
}

internal static class ConfigurationCheckExtensions
{
    /// <summary>Binds <typeparamref name="T"/> to <paramref name="section"/> and adds it to the start-up check.</summary>
    public static IServiceCollection AddCheckedOptions<T>(this IServiceCollection services, string section)
        where T : class, IValidatedOptions, new()
    {
        services.AddOptions<T>().BindConfiguration(section);
        Check(services).Add<T>(section);
        return services;
    }

    public static IServiceCollection AddConfigurationRule(this IServiceCollection services, Func<IConfiguration, IEnumerable<string>> rule)
    {
        Check(services).AddRule(rule);
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
