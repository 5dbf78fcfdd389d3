using System.ComponentModel;
using System.Reflection;

namespace Backstop.Infrastructure.Configuration;

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

    /// <summary>
    /// Keeps <c>&lt;section&gt;:&lt;oldName&gt;</c> working as <c>&lt;section&gt;:&lt;newName&gt;</c> of <typeparamref name="T"/>
    /// (when the new name is not set), with a deprecation warning at start.
    /// </summary>
    public static IServiceCollection AddSettingAlias<T>(this IServiceCollection services, string section, string oldName, string newName)
        where T : class, new()
    {
        var defaultValue = typeof(T).GetProperty(newName)?.GetValue(new T())?.ToString();
        services.AddOptions<T>().PostConfigure<IConfiguration>((options, configuration) =>
        {
            if (configuration[$"{section}:{oldName}"] is not { } value
                || ConfigurationCheck.NewNameSetApart(configuration, section, oldName, newName, defaultValue)) return;
            new ConfigurationBuilder().AddInMemoryCollection([new(newName, value)]).Build().Bind(options);
        });
        Check(services).AddAlias(section, oldName, newName, defaultValue);
        return services;
    }

    /// <summary>A key of a checked section read directly rather than through its options class.</summary>
    public static IServiceCollection AddKnownSetting(this IServiceCollection services, string key)
    {
        Check(services).AddKnownKey(key);
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
